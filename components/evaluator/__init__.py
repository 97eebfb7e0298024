"""Evaluation: TFX's Evaluator (TFMA) with segmentation metrics, bootstrap intervals and the
comparison with the released model that decides the blessing."""
