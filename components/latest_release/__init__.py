"""LatestRelease: the served version as the Evaluator's baseline, and whether the run has
anything new to train on."""
