"""Confusion matrices of class maps and the scores read from them, in NumPy.

The reference that the TFMA metrics (components/evaluator/metrics.py) and scoring a
released model (models/scoring.py) both follow.
"""
from typing import Dict, List, Optional

import numpy as np

from petseg.core.labels import IGNORE_ID

# The names of the figures, as TFMA's metrics and every record call them.
MEAN_IOU = 'mean_iou'
PIXEL_ACCURACY = 'pixel_accuracy'
CONFUSION_MATRIX = 'confusion_matrix'


def class_iou_name(class_name: str) -> str:
  return f'iou/{class_name}'


def add(confusion: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> None:
  """Adds one batch of (truth, predicted) class maps to `confusion`, skipping IGNORE_ID."""
  labelled = truth != IGNORE_ID
  num_classes = confusion.shape[0]
  confusion += np.bincount(truth[labelled].astype(np.int64) * num_classes
                           + predicted[labelled].astype(np.int64),
                           minlength=num_classes ** 2).reshape(confusion.shape)


def scores(confusion: np.ndarray, class_names: Optional[List[str]] = None) -> Dict:
  """Per-class IoU (None for a class absent from both truth and prediction, which the
  mean leaves out, as the literature does), mean IoU and pixel accuracy."""
  tp = np.diag(confusion).astype(np.float64)
  union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
  present = union > 0
  iou = np.where(present, tp / np.maximum(union, 1), np.nan)
  names = class_names or [str(i) for i in range(len(tp))]
  return {
      MEAN_IOU: float(np.nanmean(iou)) if present.any() else None,
      'per_class_iou': {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
      PIXEL_ACCURACY: float(tp.sum() / max(confusion.sum(), 1)),
  }
