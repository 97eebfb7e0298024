"""Scoring an exported model on raw records with NumPy: the reference the TFMA metrics follow.

Uses only the SavedModel's own signatures: `serving_examples` for the predicted class map
and `transform_features` for the ground truth at the same size (or, at each image's own
size, `serving_class_ids` against the record's mask), so no project code is needed to
score a model. Each image's confusion matrix is kept, named by its file, so that
the scores get the release gate's 95% intervals (core/bootstrap.py) and two models scored
on the same images can be compared paired.
"""
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from petseg.core import bootstrap
from petseg.core import confusion as confusion_lib
from petseg.core import features
from petseg.models import input_pipeline


def image_matrices(model_dir: str, file_patterns: Sequence[str], num_classes: int,
                   batch_size: int = 16, at_own_size: bool = False) -> bootstrap.ImageMatrices:
  """Each record's confusion matrix (ignored pixels skipped), named by its image file.

  At the training config's image size (`serving_examples` against `transform_features`,
  as TFMA and the release gate score), or, `at_own_size`, at each image's own size: the
  masks a user is served (`serving_class_ids`, upsampled by the model) against the
  record's own mask, as published figures are given (e.g. CamVid's at 360x480)."""
  model = tf.saved_model.load(model_dir)
  names: List[str] = []
  matrices: List[np.ndarray] = []
  for batch in input_pipeline.records(file_patterns).batch(batch_size):
    raw = tf.io.parse_example(batch, _RAW_SPEC if at_own_size else _NAME_SPEC)
    names += [n.decode() for n in raw[features.FILE_NAME].numpy()]
    for one_truth, one_predicted in (_at_own_size(model, raw) if at_own_size
                                     else _at_model_size(model, batch)):
      matrix = np.zeros((num_classes, num_classes), np.int64)
      confusion_lib.add(matrix, one_truth, one_predicted)
      matrices.append(matrix)
  if not matrices:  # no records: no images, and a confusion matrix of zeros
    return bootstrap.ImageMatrices((), np.zeros((0, num_classes, num_classes), np.int64))
  return bootstrap.ImageMatrices.of(names, matrices, num_classes)


_NAME_SPEC = {features.FILE_NAME: tf.io.FixedLenFeature([], tf.string)}
# The raw record's image and mask (a PNG of class ids at the image's size): README, "Records".
_RAW_SPEC = {**_NAME_SPEC, features.IMAGE: tf.io.FixedLenFeature([], tf.string),
             features.MASK: tf.io.FixedLenFeature([], tf.string)}


def _at_model_size(model, batch) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """(true, predicted) class maps of a batch of raw records, at the training size."""
  predicted = model.signatures['serving_examples'](examples=batch)[features.CLASS_IDS]
  truth = model.signatures['transform_features'](examples=batch)[features.TRUE_CLASS_IDS]
  return zip(truth.numpy(), predicted.numpy())


def _at_own_size(model, raw) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """(true, predicted) class maps of parsed raw records, at each image's own size (the
  served batch is padded to its largest image; each map is cut back to its own)."""
  served = model.signatures['serving_class_ids'](images=raw[features.IMAGE])
  for predicted, height, width, mask in zip(
      served[features.CLASS_IDS].numpy(), served['height'].numpy(), served['width'].numpy(),
      raw[features.MASK]):
    yield tf.io.decode_png(mask)[..., 0].numpy(), predicted[:height, :width]


def confusion_matrix(model_dir: str, file_patterns: Sequence[str], num_classes: int,
                     batch_size: int = 16) -> np.ndarray:
  """[true class, predicted class] pixel counts over the records; ignored pixels skipped."""
  return image_matrices(model_dir, file_patterns, num_classes, batch_size).confusion


def intervals(models: Sequence[bootstrap.ImageMatrices], class_names: Sequence[str],
              settings: bootstrap.Settings = bootstrap.Settings()) -> List[Dict]:
  """The 95% intervals of each model's scores (mean IoU, pixel accuracy, each class's IoU)
  on the same images and, for two, of their paired difference (the first minus the
  second), as JSON; None for a figure on fewer than `settings.min_images` images. Raises
  bootstrap.UnpairedImages for models scored on different images."""

  def bounds(interval: Optional[bootstrap.Interval]):
    return None if interval is None else [round(b, 4) for b in interval]

  return [{'images': drawn.images, 'mean_iou': bounds(drawn.mean_iou),
           'pixel_accuracy': bounds(drawn.pixel_accuracy),
           'per_class_iou': {name: bounds(b) for name, b in zip(class_names, drawn.class_iou)}}
          for drawn in bootstrap.slice_intervals(models, settings)]
