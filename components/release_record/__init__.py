"""ReleaseRecord: the run's release record, HTML report and model card, blessed or not."""
