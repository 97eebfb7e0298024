"""The Evaluator's output read back: each model's metrics on each slice with their 95%
intervals (a bootstrap over the test images, core/bootstrap.py, that the Evaluator runs on
TFMA's per-image confusion matrices and keeps beside TFMA's results), and the comparison
with the released model that the Evaluator decides on (core/comparison.py).
"""
import dataclasses
import json
import math
import posixpath
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import tensorflow_model_analysis as tfma
from tfx.dsl.io import fileio

from petseg.components.evaluator import metrics as sm
from petseg.core import bootstrap
from petseg.core import comparison as comparison_lib
from petseg.core import config as config_lib

CANDIDATE = tfma.CANDIDATE_KEY
BASELINE = tfma.BASELINE_KEY
DIFFERENCE = 'difference'  # candidate - baseline, from the same resamples
OVERALL = comparison_lib.OVERALL
COMPARISON_FILE = 'comparison.json'
INTERVALS_FILE = 'intervals.json'
RELEASE_FILE = 'release.json'  # the gate applied: config.ReleaseConfig, parameters folded in


@dataclasses.dataclass(frozen=True)
class Estimate:
  """A metric's value (a float, None for NaN, or a nested list), its 95% interval (None
  for a matrix, or a figure on too few images to judge) and the test images it rests on
  (the slice's, or those holding the class; None for a matrix)."""
  value: Any
  interval: Optional[comparison_lib.Interval] = None
  images: Optional[int] = None


Metrics = Dict[str, Dict[str, Dict[str, Estimate]]]  # model -> slice -> name -> estimate


def _float(value: float) -> Optional[float]:
  return None if math.isnan(value) else value


def _value(metric_value) -> Any:
  """A TFMA metric value as JSON: a float (None for NaN) or a nested list."""
  if metric_value.HasField('array_value'):
    return _array(metric_value).tolist()
  return _float(metric_value.double_value.value)


def _array(metric_value) -> np.ndarray:
  array = metric_value.array_value
  return np.array(array.int64_values or array.float64_values).reshape(tuple(array.shape))


def slice_name(slice_key) -> str:
  parts = [f'{k.column}={k.bytes_value.decode() if k.HasField("bytes_value") else k.int64_value}'
           for k in slice_key.single_slice_keys]
  return ','.join(parts) or OVERALL


def _model(key) -> str:
  return DIFFERENCE if key.is_diff else key.model_name or CANDIDATE


def _tfma_metrics(evaluation_uri: str):
  """(model, slice, name, TFMA's value) of every metric TFMA wrote; its notes (__ERROR__)
  left out."""
  for per_slice in tfma.load_metrics(evaluation_uri):
    for entry in per_slice.metric_keys_and_values:
      if not entry.key.name.startswith('__'):
        yield (_model(entry.key), slice_name(per_slice.slice_key), entry.key.name,
               entry.value)


def load(evaluation_uri: str) -> Metrics:
  """{'candidate' | 'baseline' | 'difference': {slice: {metric name: Estimate}}} of an
  Evaluator run, with the intervals it drew (write_intervals()); a run without a baseline
  has only 'candidate'. The per-image matrices are left out."""
  intervals = _read_json(evaluation_uri, INTERVALS_FILE) or {}
  result: Metrics = {}
  for model, slice_, name, value in _tfma_metrics(evaluation_uri):
    if name == sm.IMAGE_MATRICES:
      continue
    drawn = intervals.get(model, {}).get(slice_, {}).get(name, {})
    interval = drawn.get('interval')
    result.setdefault(model, {}).setdefault(slice_, {})[name] = Estimate(
        _value(value), tuple(interval) if interval else None, drawn.get('images'))
  return result


def class_metric_names(eval_config: tfma.EvalConfig) -> List[str]:
  """The ClassIoU metrics' names, in the order of their class ids."""
  named = {}
  for metric in eval_config.metrics_specs[0].metrics:
    if metric.class_name == sm.ClassIoU.__name__:
      config = json.loads(metric.config)
      named[config['class_id']] = config['name']
  return [named[c] for c in sorted(named)]


def write_intervals(evaluation_uri: str, eval_config: tfma.EvalConfig,
                    settings: bootstrap.Settings) -> None:
  """Draws the 95% interval of each model's (and the difference's) mean IoU, pixel accuracy
  and class IoUs on each slice from TFMA's per-image matrices, the two models paired, and
  writes them beside TFMA's results."""
  matrices: Dict[str, Dict[str, np.ndarray]] = {}
  for model, slice_, name, value in _tfma_metrics(evaluation_uri):
    if name == sm.IMAGE_MATRICES and model != DIFFERENCE:
      matrices.setdefault(slice_, {})[model] = _array(value).astype(np.int64)
  class_names = class_metric_names(eval_config)
  result: Dict[str, Dict[str, Any]] = {}
  for slice_, by_model in sorted(matrices.items()):
    models = [m for m in (CANDIDATE, BASELINE) if m in by_model]
    drawn = bootstrap.slice_intervals([by_model[m] for m in models], settings)
    for model, intervals in zip(models + [DIFFERENCE], drawn):
      figures = [(sm.MEAN_IOU, intervals.mean_iou, intervals.images),
                 (sm.PIXEL_ACCURACY, intervals.pixel_accuracy, intervals.images),
                 *zip(class_names, intervals.class_iou, intervals.class_images)]
      result.setdefault(model, {})[slice_] = {
          name: {'interval': list(bounds) if bounds else None, 'images': images}
          for name, bounds, images in figures}
  with fileio.open(posixpath.join(evaluation_uri, INTERVALS_FILE), 'w') as f:
    f.write(json.dumps(result, indent=2))  # how they were drawn: RELEASE_FILE


def compare(metrics: Metrics, allowed_drops: Mapping[str, Any],
            min_images: int) -> comparison_lib.Comparison:
  """The candidate against the baseline, from `metrics` of an Evaluator run with both, with
  the drops allowed (config.ReleaseConfig.allowed_drops()): the whole split's mean IoU
  against `max_mean_iou_drop`, each other slice's mean IoU against `max_slice_drop`, and
  each class's IoU, in the whole split and in each slice, against its `max_class_drop`
  (`max_slice_drop` for the classes not named); those on fewer than `min_images` test
  images are not judged. A metric without a value in either model (a class absent from a
  slice) is not checked."""
  max_slice_drop = allowed_drops['max_slice_drop']
  prefix = sm.class_iou_name('')
  checks = []
  for slice_, differences in sorted(metrics[DIFFERENCE].items(),
                                    key=lambda item: (item[0] != OVERALL, item[0])):
    for name, difference in sorted(
        differences.items(), key=lambda item: (item[0] != sm.MEAN_IOU, item[0])):
      if name == sm.MEAN_IOU:
        allowed = (allowed_drops['max_mean_iou_drop'] if slice_ == OVERALL
                   else max_slice_drop)
      elif name.startswith(prefix):
        allowed = allowed_drops['max_class_drop'].get(name[len(prefix):], max_slice_drop)
      else:
        continue
      candidate = metrics[CANDIDATE][slice_][name].value
      released = metrics[BASELINE][slice_][name].value
      if None not in (candidate, released, difference.value):
        checks.append(comparison_lib.Difference(
            slice_, name, candidate, released, difference.value, difference.interval,
            allowed, difference.images or 0, min_images))
  return comparison_lib.Comparison(mean_iou=checks[0], others=tuple(checks[1:]),
                                   allowed=dict(allowed_drops))


def write_comparison(evaluation_uri: str, comparison: comparison_lib.Comparison) -> None:
  with fileio.open(posixpath.join(evaluation_uri, COMPARISON_FILE), 'w') as f:
    f.write(json.dumps(comparison.to_json(), indent=2))


def read_comparison(evaluation_uri: str) -> Optional[comparison_lib.Comparison]:
  """The comparison an Evaluator run decided on; None without a baseline."""
  data = _read_json(evaluation_uri, COMPARISON_FILE)
  return comparison_lib.Comparison.from_json(data) if data else None


def write_release(evaluation_uri: str, release: config_lib.ReleaseConfig) -> None:
  with fileio.open(posixpath.join(evaluation_uri, RELEASE_FILE), 'w') as f:
    f.write(json.dumps(release.to_json(), indent=2))


def release_config(evaluation_uri: str) -> config_lib.ReleaseConfig:
  """The release gate an Evaluator run applied."""
  return config_lib.ReleaseConfig.from_json(_read_json(evaluation_uri, RELEASE_FILE))


def sensitivity(metrics: Metrics, min_images: int) -> comparison_lib.Sensitivity:
  """What this run's test split can tell (from load()'s metrics)."""
  def margin(model):
    estimate = metrics.get(model, {}).get(OVERALL, {}).get(sm.MEAN_IOU)
    return (estimate.interval[1] - estimate.interval[0]) / 2 if (
        estimate and estimate.interval) else None
  images = metrics[CANDIDATE][OVERALL][sm.MEAN_IOU].images or 0
  return comparison_lib.Sensitivity(images, min_images, margin(CANDIDATE),
                                    margin(DIFFERENCE))


def _read_json(evaluation_uri: str, name: str) -> Optional[Dict[str, Any]]:
  path = posixpath.join(evaluation_uri, name)
  if not fileio.exists(path):
    return None
  with fileio.open(path) as f:
    return json.load(f)
