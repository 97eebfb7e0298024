"""Scoring an exported model on raw records with NumPy: the reference the TFMA metrics follow.

Uses only the SavedModel's own signatures: `serving_examples` for the predicted class map
and `transform_features` for the ground truth at the same size, so no project code is
needed to score a model. Each image's confusion matrix is kept, named by its file, so that
the scores get the release gate's 95% intervals (core/bootstrap.py) and two models scored
on the same images can be compared paired.
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from petseg.core import bootstrap
from petseg.core import confusion as confusion_lib
from petseg.core import features
from petseg.models import input_pipeline


@dataclasses.dataclass(frozen=True)
class ImageMatrices:
  """Each image's [true class, predicted class] pixel counts, in bootstrap order (by name)."""
  names: Tuple[str, ...]
  matrices: np.ndarray  # [images, C, C]

  @property
  def confusion(self) -> np.ndarray:
    return self.matrices.sum(0)


def image_matrices(model_dir: str, file_patterns: Sequence[str], num_classes: int,
                   batch_size: int = 16) -> ImageMatrices:
  """Each record's confusion matrix (ignored pixels skipped), named by its image file."""
  model = tf.saved_model.load(model_dir)
  names: List[str] = []
  matrices: List[np.ndarray] = []
  file_name = {features.FILE_NAME: tf.io.FixedLenFeature([], tf.string)}
  for batch in input_pipeline.records(file_patterns).batch(batch_size):
    predicted = model.signatures['serving_examples'](examples=batch)[features.CLASS_IDS].numpy()
    truth = model.signatures['transform_features'](examples=batch)[features.TRUE_CLASS_IDS].numpy()
    names += [n.decode() for n in
              tf.io.parse_example(batch, file_name)[features.FILE_NAME].numpy()]
    for one_truth, one_predicted in zip(truth, predicted):
      matrix = np.zeros((num_classes, num_classes), np.int64)
      confusion_lib.add(matrix, one_truth, one_predicted)
      matrices.append(matrix)
  if not matrices:  # no records: no images, and a confusion matrix of zeros
    return ImageMatrices((), np.zeros((0, num_classes, num_classes), np.int64))
  return ImageMatrices(tuple(sorted(names)), bootstrap.sorted_by_name(names, matrices))


def confusion_matrix(model_dir: str, file_patterns: Sequence[str], num_classes: int,
                     batch_size: int = 16) -> np.ndarray:
  """[true class, predicted class] pixel counts over the records; ignored pixels skipped."""
  return image_matrices(model_dir, file_patterns, num_classes, batch_size).confusion


def intervals(models: Sequence[ImageMatrices], class_names: Sequence[str],
              settings: bootstrap.Settings = bootstrap.Settings()) -> List[Dict]:
  """The 95% intervals of each model's scores (mean IoU, pixel accuracy, each class's IoU)
  on the same images and, for two, of their paired difference (the first minus the
  second), as JSON; None for a figure on fewer than `settings.min_images` images."""
  if len({m.names for m in models}) != 1:
    raise ValueError('models compared on different images')

  def bounds(interval: Optional[bootstrap.Interval]):
    return None if interval is None else [round(b, 4) for b in interval]

  return [{'images': drawn.images, 'mean_iou': bounds(drawn.mean_iou),
           'pixel_accuracy': bounds(drawn.pixel_accuracy),
           'per_class_iou': {name: bounds(b) for name, b in zip(class_names, drawn.class_iou)}}
          for drawn in bootstrap.slice_intervals([m.matrices for m in models], settings)]
