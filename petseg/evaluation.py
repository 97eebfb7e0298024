"""Scoring an exported model on raw records with NumPy: the reference the metrics follow.

Uses only the SavedModel's own signatures: `serving_examples` for the predicted class map
and `transform_features` for the ground truth at the same size, so no project code is
needed to score a model.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from petseg.labels import IGNORE_ID
from petseg.models import features
from petseg.models import input_pipeline


def confusion_matrix(model_dir: str, file_patterns: Sequence[str], num_classes: int,
                     batch_size: int = 16) -> np.ndarray:
  """[true class, predicted class] pixel counts over the records; ignored pixels skipped."""
  model = tf.saved_model.load(model_dir)
  confusion = np.zeros((num_classes, num_classes), np.int64)
  for batch in input_pipeline.records(file_patterns).batch(batch_size):
    predicted = model.signatures['serving_examples'](examples=batch)[features.CLASS_IDS].numpy()
    truth = model.signatures['transform_features'](examples=batch)[features.TRUE_CLASS_IDS].numpy()
    add(confusion, truth, predicted)
  return confusion


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
      'mean_iou': float(np.nanmean(iou)) if present.any() else None,
      'per_class_iou': {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
      'pixel_accuracy': float(tp.sum() / max(confusion.sum(), 1)),
  }
