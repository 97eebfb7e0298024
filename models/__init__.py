"""Segmentation models, the Transform preprocessing_fn and the Trainer's run_fn."""
