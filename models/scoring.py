"""Scoring an exported model on raw records with NumPy: the reference the TFMA metrics follow.

Uses only the SavedModel's own signatures: `serving_examples` for the predicted class map
and `transform_features` for the ground truth at the same size, so no project code is
needed to score a model.
"""
from typing import Sequence

import numpy as np
import tensorflow as tf

from petseg.core import confusion as confusion_lib
from petseg.core import features
from petseg.models import input_pipeline


def confusion_matrix(model_dir: str, file_patterns: Sequence[str], num_classes: int,
                     batch_size: int = 16) -> np.ndarray:
  """[true class, predicted class] pixel counts over the records; ignored pixels skipped."""
  model = tf.saved_model.load(model_dir)
  confusion = np.zeros((num_classes, num_classes), np.int64)
  for batch in input_pipeline.records(file_patterns).batch(batch_size):
    predicted = model.signatures['serving_examples'](examples=batch)[features.CLASS_IDS].numpy()
    truth = model.signatures['transform_features'](examples=batch)[features.TRUE_CLASS_IDS].numpy()
    confusion_lib.add(confusion, truth, predicted)
  return confusion
