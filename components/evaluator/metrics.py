"""TFMA metrics for semantic segmentation: IoU per class, mean IoU, pixel accuracy, the full
confusion matrix, and each test image's confusion matrix (what the release gate's bootstrap
resamples, core/bootstrap.py).

TFMA 0.47 counts per-class true/false positives and negatives
(`SemanticSegmentationConfusionMatrix`, skipping an ignored ground-truth id) but derives no
IoU from them. The metrics here are derived computations on top of those counts; every
metric built with the same classes and keys shares one pass over the pixels. Each metric
has a key without sub-key, so that TFMA thresholds can gate it (a per-class gate is one
`ClassIoU` metric per class).

A class absent from both ground truth and prediction has no IoU (NaN); the mean leaves it
out, as the literature does. Referenced from an EvalConfig as
MetricConfig(module='petseg.segmentation_metrics', class_name=..., config=json).
"""
from typing import Callable, Dict, List, Optional, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis import constants as tfma_constants
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.metrics import preprocessors
from tensorflow_model_analysis.metrics import semantic_segmentation_confusion_matrix_metrics as tfma_seg
from tensorflow_model_analysis.utils import util as tfma_util

from petseg.core import bootstrap
from petseg.core import confusion as confusion_lib
from petseg.core import features
# The figures' names (core/confusion.py), as this module's users read them.
from petseg.core.confusion import (  # noqa: F401  pylint: disable=unused-import
    CONFUSION_MATRIX, MEAN_IOU, PIXEL_ACCURACY, class_iou_name)
from petseg.core.labels import IGNORE_ID

Matrix = tfma_seg.Matrix
GROUND_TRUTH_KEY = features.TRUE_CLASS_IDS  # the `transform_features` signature's output
PREDICTION_KEY = features.CLASS_IDS  # the `serving_examples` signature's output
IMAGE_MATRICES = 'image_confusion_matrices'
IMAGE_NAMES = 'image_names'  # beside IMAGE_MATRICES: the name of each image, in its order
NAME_KEY = features.FILE_NAME  # the raw feature that names each test image


def iou(matrix: Matrix) -> float:
  union = matrix.tp + matrix.fp + matrix.fn
  return float(matrix.tp / union) if union else float('nan')


def mean_iou(matrices: Dict[int, Matrix]) -> float:
  values = [iou(m) for m in matrices.values()]
  present = [v for v in values if not np.isnan(v)]
  return float(np.mean(present)) if present else float('nan')


def pixel_accuracy(matrices: Dict[int, Matrix]) -> float:
  # Every labelled pixel is a tp or an fn of its own class.
  labelled = sum(m.tp + m.fn for m in matrices.values())
  return float(sum(m.tp for m in matrices.values()) / labelled) if labelled else float('nan')


class _FromClassMatrices(metric_types.Metric):
  """A value derived from TFMA's per-class matrices; subclasses say which."""

  def __init__(self, class_ids: List[int], name: str,
               ground_truth_key: str = GROUND_TRUTH_KEY,
               prediction_key: str = PREDICTION_KEY,
               ignore_ground_truth_id: int = IGNORE_ID, **kwargs):
    super().__init__(metric_util.merge_per_key_computations(self._computations),
                     class_ids=class_ids, name=name, ground_truth_key=ground_truth_key,
                     prediction_key=prediction_key,
                     ignore_ground_truth_id=ignore_ground_truth_id, **kwargs)

  def _value(self, matrices: Dict[int, Matrix]) -> float:
    raise NotImplementedError

  def _computations(self, class_ids, name, ground_truth_key, prediction_key,
                    ignore_ground_truth_id, model_name='', output_name='',
                    example_weighted=False, **kwargs):
    del kwargs  # the subclass's own settings, read by _value
    # One name per (classes, keys), not per metric, so that all metrics share one count.
    matrix_name = metric_util.generate_private_name_from_arguments(
        'petseg_segmentation_matrix', class_ids=class_ids, ground_truth_key=ground_truth_key,
        prediction_key=prediction_key, ignore_ground_truth_id=ignore_ground_truth_id)
    computations = tfma_seg.SemanticSegmentationConfusionMatrix(
        class_ids=class_ids, ground_truth_key=ground_truth_key,
        prediction_key=prediction_key, decode_ground_truth=False, decode_prediction=False,
        ignore_ground_truth_id=ignore_ground_truth_id, name=matrix_name,
    ).computations(model_names=[model_name], output_names=[output_name],
                   example_weighted=example_weighted)
    matrix_key = computations[-1].keys[-1]
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)

    def result(metrics):
      matrices = {c: metrics[matrix_key._replace(sub_key=metric_types.SubKey(class_id=c))]
                  for c in class_ids}
      return {key: self._value(matrices)}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


class MeanIoU(_FromClassMatrices):

  def __init__(self, class_ids: List[int], name: str = MEAN_IOU, **kwargs):
    super().__init__(class_ids, name, **kwargs)

  def _value(self, matrices):
    return mean_iou(matrices)


class PixelAccuracy(_FromClassMatrices):

  def __init__(self, class_ids: List[int], name: str = PIXEL_ACCURACY, **kwargs):
    super().__init__(class_ids, name, **kwargs)

  def _value(self, matrices):
    return pixel_accuracy(matrices)


class ClassIoU(_FromClassMatrices):
  """The IoU of one class (`class_id`), under its own name so that it can be gated."""

  def __init__(self, class_ids: List[int], class_id: int, name: Optional[str] = None,
               **kwargs):
    super().__init__(class_ids, name or f'iou/{class_id}', class_id=class_id, **kwargs)

  def _value(self, matrices):
    return iou(matrices[self.kwargs['class_id']])


class ConfusionMatrix(metric_types.Metric):
  """The [true class, predicted class] pixel counts, for reports: TFMA's per-class
  matrices cannot say which class a pixel was mistaken for."""

  def __init__(self, num_classes: int, name: str = CONFUSION_MATRIX,
               ground_truth_key: str = GROUND_TRUTH_KEY,
               prediction_key: str = PREDICTION_KEY):
    super().__init__(metric_util.merge_per_key_computations(self._computations),
                     num_classes=num_classes, name=name,
                     ground_truth_key=ground_truth_key, prediction_key=prediction_key)

  def _computations(self, num_classes, name, ground_truth_key, prediction_key,
                    model_name='', output_name='', example_weighted=False, **kwargs):
    del kwargs  # unused
    return _computation(
        name, model_name, output_name, example_weighted,
        preprocessors.DecodeImagePreprocessor(
            ground_truth_key=ground_truth_key, prediction_key=prediction_key,
            decode_ground_truth=False, decode_prediction=False, model_name=model_name),
        lambda key: _ConfusionMatrixCombiner(key, num_classes))


def _computation(name: str, model_name: str, output_name: str, example_weighted: bool,
                 preprocessor: metric_types.Preprocessor,
                 combiner: Callable[[metric_types.MetricKey], beam.CombineFn]
                 ) -> List[metric_types.MetricComputation]:
  """One metric's computation: `preprocessor` per example, then `combiner(its key)`."""
  key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                               example_weighted=example_weighted)
  return [metric_types.MetricComputation(keys=[key], preprocessors=[preprocessor],
                                         combiner=combiner(key))]


class _ConfusionMatrixCombiner(beam.CombineFn):

  def __init__(self, key: metric_types.MetricKey, num_classes: int):
    self._key = key
    self._num_classes = num_classes

  def _add(self, matrix: np.ndarray, element) -> np.ndarray:
    """`matrix` with one example's pixels added, in place."""
    confusion_lib.add(matrix, np.asarray(element.get_labels()),
                      np.asarray(element.get_predictions()))
    return matrix

  def create_accumulator(self) -> np.ndarray:
    return np.zeros((self._num_classes, self._num_classes), np.int64)

  def add_input(self, accumulator, element):
    return self._add(accumulator, element)

  def merge_accumulators(self, accumulators):
    return sum(accumulators)

  def extract_output(self, accumulator):
    return {self._key: accumulator}


class ImageConfusionMatrices(metric_types.Metric):
  """Each test image's [true class, predicted class] pixel counts, [images, C, C] in the
  order of the images' names (`name_key`, a raw feature): the same order whatever the
  runner and its workers; and those names, [images], as the metric IMAGE_NAMES, so that
  two models' matrices are paired by name (core/bootstrap.py)."""

  def __init__(self, num_classes: int, name: str = IMAGE_MATRICES,
               ground_truth_key: str = GROUND_TRUTH_KEY,
               prediction_key: str = PREDICTION_KEY, name_key: str = NAME_KEY):
    super().__init__(metric_util.merge_per_key_computations(self._computations),
                     num_classes=num_classes, name=name, ground_truth_key=ground_truth_key,
                     prediction_key=prediction_key, name_key=name_key)

  def _computations(self, num_classes, name, ground_truth_key, prediction_key, name_key,
                    model_name='', output_name='', example_weighted=False, **kwargs):
    del kwargs  # unused
    computations = _computation(
        name, model_name, output_name, example_weighted,
        _NamedImagePreprocessor(ground_truth_key, prediction_key, name_key, model_name),
        lambda key: _ImageMatricesCombiner(key, num_classes, name_key))
    computation, = computations
    computation.keys.append(computation.keys[0]._replace(name=IMAGE_NAMES))
    return computations


class _NamedImagePreprocessor(preprocessors.DecodeImagePreprocessor):
  """TFMA's DecodeImagePreprocessor (one example's ground truth and prediction) with the
  example's name from the raw feature `name_key`. The baseline model is scored against
  the candidate's ground truth, its prediction resized to it (nearest), so that both
  models are scored on the same masks at one size whatever the sizes they were trained
  at (each model's own `transform_features` gives its mask at its own size)."""

  def __init__(self, ground_truth_key: str, prediction_key: str, name_key: str,
               model_name: str):
    super().__init__(ground_truth_key=ground_truth_key, prediction_key=prediction_key,
                     decode_ground_truth=False, decode_prediction=False,
                     model_name=model_name,
                     name=metric_util.generate_private_name_from_arguments(
                         'petseg_named_image', ground_truth_key=ground_truth_key,
                         prediction_key=prediction_key, name_key=name_key,
                         model_name=model_name))
    self._name_key = name_key

  def process(self, extracts):
    name = np.asarray(extracts[tfma_constants.FEATURES_KEY][self._name_key]).ravel()[0]
    candidate = (tfma_util.StandardExtracts(extracts).get_transformed_features(
        tfma_constants.CANDIDATE_KEY) or {}) if (
            self._model_name == tfma_constants.BASELINE_KEY) else {}
    for inputs in super().process(extracts):
      if self._ground_truth_key in candidate:
        truth = np.asarray(candidate[self._ground_truth_key])
        inputs[tfma_constants.LABELS_KEY] = truth
        inputs[tfma_constants.PREDICTIONS_KEY] = nearest(
            np.asarray(inputs[tfma_constants.PREDICTIONS_KEY]), truth.shape)
      inputs[self._name_key] = name.decode() if isinstance(name, bytes) else str(name)
      yield inputs


def nearest(class_map: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
  """`class_map` resized to `shape` (its last two axes) by nearest neighbour, as masks
  are resized."""
  if class_map.shape == tuple(shape):
    return class_map
  rows = (np.arange(shape[-2]) + 0.5) * class_map.shape[-2] // shape[-2]
  columns = (np.arange(shape[-1]) + 0.5) * class_map.shape[-1] // shape[-1]
  return class_map[..., rows.astype(int)[:, None], columns.astype(int)[None, :]]


class _ImageMatricesCombiner(_ConfusionMatrixCombiner):
  """(name, matrix) of each image, in the order of the names at the end."""

  def __init__(self, key: metric_types.MetricKey, num_classes: int, name_key: str):
    super().__init__(key, num_classes)
    self._name_key = name_key

  def create_accumulator(self) -> list:
    return []

  def add_input(self, accumulator, element):
    accumulator.append((element[self._name_key],
                        self._add(super().create_accumulator(), element)))
    return accumulator

  def merge_accumulators(self, accumulators):
    return [entry for accumulator in accumulators for entry in accumulator]

  def extract_output(self, accumulator):
    names, matrices = zip(*accumulator) if accumulator else ((), ())
    scored = bootstrap.ImageMatrices.of(names, matrices, self._num_classes)
    return {self._key: scored.matrices,
            self._key._replace(name=IMAGE_NAMES): np.array(scored.names, dtype=object)}


for _metric in (MeanIoU, PixelAccuracy, ClassIoU, ConfusionMatrix, ImageConfusionMatrices):
  metric_types.register_metric(_metric)
