"""The Evaluator's output read back: each model's metrics on each slice with their 95%
intervals (TFMA's jackknife over test examples), and the comparison with the released
model that the Evaluator decides on (core/comparison.py) and keeps beside TFMA's results.
"""
import json
import math
import posixpath
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import tensorflow_model_analysis as tfma
from tfx.dsl.io import fileio

from petseg.components import segmentation_metrics as sm
from petseg.core import comparison as comparison_lib

CANDIDATE = tfma.CANDIDATE_KEY
BASELINE = tfma.BASELINE_KEY
DIFFERENCE = 'difference'  # candidate - baseline, from the same resamples
OVERALL = comparison_lib.OVERALL
COMPARISON_FILE = 'comparison.json'

# A metric's value (a float, None for NaN, or a nested list) and its 95% interval, None
# where TFMA computed none.
Estimate = Tuple[Any, Optional[comparison_lib.Interval]]
Metrics = Dict[str, Dict[str, Dict[str, Estimate]]]  # model -> slice -> name -> estimate


def _float(value: float) -> Optional[float]:
  return None if math.isnan(value) else value


def _value(metric_value) -> Any:
  """A TFMA metric value as JSON: a float (None for NaN) or a nested list."""
  if metric_value.HasField('array_value'):
    array = metric_value.array_value
    return np.array(array.int64_values or array.float64_values).reshape(
        tuple(array.shape)).tolist()
  return _float(metric_value.double_value.value)


def _interval(entry) -> Optional[comparison_lib.Interval]:
  if not entry.HasField('confidence_interval'):
    return None
  bounds = entry.confidence_interval
  if not bounds.lower_bound.HasField('double_value'):
    return None  # an array metric's bounds are not read
  low, high = (_float(b.double_value.value) for b in (bounds.lower_bound, bounds.upper_bound))
  return None if low is None or high is None else (low, high)


def slice_name(slice_key) -> str:
  parts = [f'{k.column}={k.bytes_value.decode() if k.HasField("bytes_value") else k.int64_value}'
           for k in slice_key.single_slice_keys]
  return ','.join(parts) or OVERALL


def load(evaluation_uri: str) -> Metrics:
  """{'candidate' | 'baseline' | 'difference': {slice: {metric name: (value, interval)}}}
  of an Evaluator run; a run without a baseline has only 'candidate'. TFMA's notes (a
  slice too small for intervals) are left out."""
  result: Metrics = {}
  for per_slice in tfma.load_metrics(evaluation_uri):
    for entry in per_slice.metric_keys_and_values:
      if entry.key.name.startswith('__'):  # __ERROR__: why TFMA gave no intervals
        continue
      model = DIFFERENCE if entry.key.is_diff else entry.key.model_name or CANDIDATE
      (result.setdefault(model, {}).setdefault(slice_name(per_slice.slice_key), {})
       [entry.key.name]) = (_value(entry.value), _interval(entry))
  return result


def compare(metrics: Metrics, allowed_drops: Mapping[str, Any]) -> comparison_lib.Comparison:
  """The candidate against the baseline, from `metrics` of an Evaluator run with both, with
  the drops allowed (config.ReleaseConfig.allowed_drops()): the whole split's mean IoU
  against `max_mean_iou_drop`, each other slice's mean IoU against `max_slice_drop`, and
  each class's IoU, in the whole split and in each slice, against its `max_class_drop`
  (`max_slice_drop` for the classes not named). A metric without a value in either model
  (a class absent from a slice) is not checked."""
  max_slice_drop = allowed_drops['max_slice_drop']
  prefix = sm.class_iou_name('')
  checks = []
  for slice_, differences in sorted(metrics[DIFFERENCE].items(),
                                    key=lambda item: (item[0] != OVERALL, item[0])):
    for name, (difference, interval) in sorted(
        differences.items(), key=lambda item: (item[0] != sm.MEAN_IOU, item[0])):
      if name == sm.MEAN_IOU:
        allowed = (allowed_drops['max_mean_iou_drop'] if slice_ == OVERALL
                   else max_slice_drop)
      elif name.startswith(prefix):
        allowed = allowed_drops['max_class_drop'].get(name[len(prefix):], max_slice_drop)
      else:
        continue
      candidate = metrics[CANDIDATE][slice_][name][0]
      released = metrics[BASELINE][slice_][name][0]
      if None not in (candidate, released, difference):
        checks.append(comparison_lib.Difference(slice_, name, candidate, released,
                                                difference, interval, allowed))
  return comparison_lib.Comparison(mean_iou=checks[0], others=tuple(checks[1:]),
                                   allowed=dict(allowed_drops))


def write_comparison(evaluation_uri: str, comparison: comparison_lib.Comparison) -> None:
  with fileio.open(posixpath.join(evaluation_uri, COMPARISON_FILE), 'w') as f:
    f.write(json.dumps(comparison.to_json(), indent=2))


def read_comparison(evaluation_uri: str) -> Optional[Dict[str, Any]]:
  """The comparison an Evaluator run decided on (as JSON); None without a baseline."""
  path = posixpath.join(evaluation_uri, COMPARISON_FILE)
  if not fileio.exists(path):
    return None
  with fileio.open(path) as f:
    return json.load(f)
