"""The Evaluator's output read back: each model's metrics on each slice with their 95%
intervals (a bootstrap over the test images, core/bootstrap.py, that the Evaluator runs on
TFMA's per-image confusion matrices and keeps beside TFMA's results), and the comparison
with the released model that the Evaluator decides on (core/comparison.py).
"""
import dataclasses
import json
import math
import posixpath
from typing import Any, Dict, List, Mapping, Optional, Sequence

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
GATE_FILE = 'gate.json'  # the gate applied: config.ReleaseConfig, parameters folded in


@dataclasses.dataclass(frozen=True)
class Estimate:
  """A metric's value (a float, None for NaN, or a nested list), its 95% interval (None
  for a matrix, or a figure on too few images to judge) and the test images it rests on
  (the slice's, or those holding the class; None for a matrix). A difference the gate
  checks also has its standard error (`spread`) and its bound over all checks at once
  (comparison.Family)."""
  value: Any
  interval: Optional[comparison_lib.Interval] = None
  images: Optional[int] = None
  spread: Optional[float] = None
  bound: Optional[float] = None


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
  values = (array.int64_values or array.float64_values
            or [b.decode() for b in array.bytes_values])
  return np.array(values).reshape(tuple(array.shape))


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
  Evaluator run, with the intervals it drew (write_intervals()) and the values they were
  drawn around; a run without a baseline has only 'candidate'. The per-image matrices are
  left out."""
  intervals = _read_json(evaluation_uri, INTERVALS_FILE) or {}
  result: Metrics = {}
  for model, slice_, name, value in _tfma_metrics(evaluation_uri):
    if name in (sm.IMAGE_MATRICES, sm.IMAGE_NAMES):
      continue
    drawn = intervals.get(model, {}).get(slice_, {}).get(name, {})
    interval = drawn.get('interval')
    result.setdefault(model, {}).setdefault(slice_, {})[name] = Estimate(
        drawn['value'] if 'value' in drawn else _value(value),
        tuple(interval) if interval else None, drawn.get('images'), drawn.get('spread'),
        drawn.get('bound'))
  return result


def checked(name: str) -> bool:
  """Whether the gate checks a metric's difference: the mean IoU and each class's IoU."""
  return name == sm.MEAN_IOU or name.startswith(sm.class_iou_name(''))


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
  """draw_intervals() on TFMA's per-image matrices and names, written beside TFMA's
  results."""
  scored: Dict[str, Dict[str, Dict[str, np.ndarray]]] = {}
  for model, slice_, name, value in _tfma_metrics(evaluation_uri):
    if name in (sm.IMAGE_MATRICES, sm.IMAGE_NAMES) and model != DIFFERENCE:
      scored.setdefault(slice_, {}).setdefault(model, {})[name] = _array(value)
  drawn = draw_intervals(
      {slice_: {model: bootstrap.ImageMatrices(tuple(arrays.get(sm.IMAGE_NAMES, ())),
                                               arrays[sm.IMAGE_MATRICES].astype(np.int64))
                for model, arrays in by_model.items()}
       for slice_, by_model in scored.items()},
      class_metric_names(eval_config), settings)
  with fileio.open(posixpath.join(evaluation_uri, INTERVALS_FILE), 'w') as f:
    f.write(json.dumps(drawn, indent=2))  # how they were drawn: GATE_FILE


def draw_intervals(scored: Mapping[str, Mapping[str, bootstrap.ImageMatrices]],
                   class_metrics: Sequence[str], settings: bootstrap.Settings
                   ) -> Dict[str, Any]:
  """The 95% interval of each model's (and the difference's) mean IoU, pixel accuracy and
  class IoUs (`class_metrics`, the ClassIoU metrics' names in the order of their class
  ids) on each slice (`scored`: slice -> model -> its image matrices), the two
  models paired by image name; and, with two, the bound over all the gate's checks at
  once (the judged differences it checks, in every slice), as the JSON of INTERVALS_FILE:
  model -> slice -> metric -> {value, interval, images[, spread, bound]}, and 'family'
  (comparison.Family). The values are the image matrices' (TFMA's metrics, except for a
  baseline trained at another size, which TFMA scores on its own masks). Raises
  bootstrap.UnpairedImages for models scored on different images or ground truth."""
  result: Dict[str, Any] = {}
  # (entry, images, difference, spread, deviations) of each check
  family: List[tuple] = []
  names = [*class_metrics, sm.MEAN_IOU, sm.PIXEL_ACCURACY]
  for slice_, by_model in sorted(scored.items()):
    models = [m for m in (CANDIDATE, BASELINE) if m in by_model]
    drawn = bootstrap.draw([by_model[m] for m in models], settings)
    for model, intervals, figures in zip(models + [DIFFERENCE], drawn.intervals,
                                         drawn.points):
      bounds = [*intervals.class_iou, intervals.mean_iou, intervals.pixel_accuracy]
      images = [*intervals.class_images, intervals.images, intervals.images]
      entries = result.setdefault(model, {})[slice_] = {
          name: {'value': _float(float(v)), 'interval': list(b) if b else None, 'images': n}
          for name, v, b, n in zip(names, figures, bounds, images)}
      if model == DIFFERENCE:
        family += [(entries[name], intervals.images, float(figures[k]),
                    float(drawn.spread[k]), drawn.deviations[:, k])
                   for k, (name, b) in enumerate(zip(names, bounds))
                   if checked(name) and b is not None and drawn.spread[k] > 0]
  if family:
    critical = bootstrap.critical_value([d for *_, d in family], settings.error_rate)
    for entry, images, difference, spread, _ in family:
      entry.update(spread=spread, bound=difference + bootstrap.for_images(critical, images)
                   * spread)
    result['family'] = comparison_lib.Family(settings.error_rate, len(family),
                                             critical).to_json()
  return result


def compare(metrics: Metrics, allowed_drops: Mapping[str, Any], min_images: int,
            family: Optional[comparison_lib.Family]) -> comparison_lib.Comparison:
  """The candidate against the baseline, from `metrics` of an Evaluator run with both, with
  the drops allowed (config.ReleaseConfig.allowed_drops()): the whole split's mean IoU
  against `max_mean_iou_drop`, each other slice's mean IoU against `max_slice_drop`, and
  each class's IoU, in the whole split and in each slice, against its `max_class_drop`
  (`max_slice_drop` for the classes not named); those on fewer than `min_images` test
  images are not judged. A metric without a value in either model (a class absent from a
  slice) is not checked. Each check is judged on its bound over the `family` of checks
  (read_family())."""
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
            allowed, difference.images or 0, min_images, difference.spread,
            difference.bound))
  return comparison_lib.Comparison(mean_iou=checks[0], others=tuple(checks[1:]),
                                   allowed=dict(allowed_drops), family=family)


def write_comparison(evaluation_uri: str, comparison: comparison_lib.Comparison) -> None:
  with fileio.open(posixpath.join(evaluation_uri, COMPARISON_FILE), 'w') as f:
    f.write(json.dumps(comparison.to_json(), indent=2))


def read_family(evaluation_uri: str) -> Optional[comparison_lib.Family]:
  """The family of checks an Evaluator run drew its bounds over; None without a baseline
  (or with no check judged)."""
  data = (_read_json(evaluation_uri, INTERVALS_FILE) or {}).get('family')
  return comparison_lib.Family.from_json(data) if data else None


def read_comparison(evaluation_uri: str) -> Optional[comparison_lib.Comparison]:
  """The comparison an Evaluator run decided on; None without a baseline."""
  data = _read_json(evaluation_uri, COMPARISON_FILE)
  return comparison_lib.Comparison.from_json(data) if data else None


def write_gate(evaluation_uri: str, release: config_lib.ReleaseConfig) -> None:
  with fileio.open(posixpath.join(evaluation_uri, GATE_FILE), 'w') as f:
    f.write(json.dumps(release.to_json(), indent=2))


def applied_gate(evaluation_uri: str) -> config_lib.ReleaseConfig:
  """The release gate an Evaluator run applied."""
  return config_lib.ReleaseConfig.from_json(_read_json(evaluation_uri, GATE_FILE))


def sensitivity(metrics: Metrics, min_images: int,
                comparison: Optional[comparison_lib.Comparison]) -> comparison_lib.Sensitivity:
  """What this run's test split can tell (from load()'s metrics and the comparison decided
  on them, None without a released model)."""
  def margin(model):
    estimate = metrics.get(model, {}).get(OVERALL, {}).get(sm.MEAN_IOU)
    return (estimate.interval[1] - estimate.interval[0]) / 2 if (
        estimate and estimate.interval) else None
  images = metrics[CANDIDATE][OVERALL][sm.MEAN_IOU].images or 0
  mean_iou = comparison.mean_iou if comparison else None
  refused = (bootstrap.refused_drop(
      mean_iou.allowed_drop, mean_iou.spread,
      bootstrap.for_images(comparison.family.critical_value, mean_iou.images))
             if mean_iou and mean_iou.spread is not None and comparison.family else None)
  return comparison_lib.Sensitivity(images, min_images, margin(CANDIDATE),
                                    margin(DIFFERENCE), refused)


def _read_json(evaluation_uri: str, name: str) -> Optional[Dict[str, Any]]:
  path = posixpath.join(evaluation_uri, name)
  if not fileio.exists(path):
    return None
  with fileio.open(path) as f:
    return json.load(f)
