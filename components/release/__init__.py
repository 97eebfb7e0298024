"""Release: the baseline from the registry (LatestRelease), the run's release record, model
card and report (ReleaseRecord), the Pusher, and the registry it writes: versions, the
decision log, rollback and restore, the index page."""
