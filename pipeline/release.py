"""The release gate: its settings, and the TFMA EvalConfig that enforces them.

A model is blessed when, on the test split, its mean IoU reaches `min_mean_iou`, each class
named in `min_class_iou` reaches its own bound, and (once a model has been blessed) its mean
IoU is not below the last blessed model's by more than `max_mean_iou_drop`. Gates apply to
the whole test split; the slices (species for Oxford Pets) are reported, not gated.
"""
import dataclasses
import json
from typing import Any, Mapping, Sequence

import tensorflow_model_analysis as tfma

from petseg import config as config_lib
from petseg import errors
from petseg import labels as labels_lib
from petseg import segmentation_metrics

# The demo's model scores about 0.65 on the test split; an untrained one, or one that
# paints every pixel background, scores 0.1-0.26.
DEFAULT_MIN_MEAN_IOU = 0.4
METRICS_MODULE = 'petseg.segmentation_metrics'


@dataclasses.dataclass(frozen=True)
class ReleaseConfig:
  min_mean_iou: float = DEFAULT_MIN_MEAN_IOU
  min_class_iou: Mapping[str, float] = dataclasses.field(default_factory=dict)
  max_mean_iou_drop: float = 0.01

  def __post_init__(self):
    for name, bound in [('min_mean_iou', self.min_mean_iou),
                        *((f'min_class_iou[{k}]', v) for k, v in self.min_class_iou.items())]:
      config_lib.check_number(name, bound, 0, 1)
    config_lib.check_number('max_mean_iou_drop', self.max_mean_iou_drop, 0)

  def check_classes(self, labels: labels_lib.LabelSpec) -> None:
    unknown = sorted(set(self.min_class_iou) - set(labels.class_names))
    if unknown:
      raise errors.ConfigError(f'min_class_iou names unknown classes {unknown}; the classes '
                               f'are {list(labels.class_names)}')

  @classmethod
  def from_json(cls, data: Mapping[str, Any]) -> 'ReleaseConfig':
    return config_lib.dataclass_from_json(cls, data, 'release')


def _metric(class_name: str, threshold=None, **config) -> tfma.MetricConfig:
  metric = tfma.MetricConfig(class_name=class_name, module=METRICS_MODULE,
                             config=json.dumps(config))
  if threshold is not None:
    # Gated on the whole split only; the slices are there to be read.
    metric.per_slice_thresholds.add(slicing_specs=[tfma.SlicingSpec()]).threshold.CopyFrom(
        threshold)
  return metric


def set_min_mean_iou(config: tfma.EvalConfig, bound: float) -> None:
  """Changes the mean-IoU lower bound of an EvalConfig made by eval_config()."""
  gate, = [metric.per_slice_thresholds[0].threshold
           for metric in config.metrics_specs[0].metrics if metric.class_name == 'MeanIoU']
  gate.value_threshold.lower_bound.value = bound


def _lower_bound(value: float) -> tfma.MetricThreshold:
  return tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(lower_bound={'value': value}))


def eval_config(release: ReleaseConfig, labels: labels_lib.LabelSpec,
                slice_features: Sequence[str] = ()) -> tfma.EvalConfig:
  """Raw test examples in; the model's `transform_features` gives the ground-truth mask at
  the model's size and `serving_examples` the predicted class map."""
  release.check_classes(labels)
  class_ids = list(range(labels.num_classes))
  mean_iou_gate = _lower_bound(release.min_mean_iou)  # see set_min_mean_iou
  mean_iou_gate.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
      direction=tfma.MetricDirection.HIGHER_IS_BETTER,
      absolute={'value': -release.max_mean_iou_drop}))
  metrics = [
      _metric('MeanIoU', mean_iou_gate, class_ids=class_ids),
      _metric('PixelAccuracy', class_ids=class_ids),
      _metric('ConfusionMatrix', num_classes=labels.num_classes),
  ]
  for class_id, name in enumerate(labels.class_names):
    bound = release.min_class_iou.get(name)
    metrics.append(_metric(
        'ClassIoU', None if bound is None else _lower_bound(bound), class_ids=class_ids,
        class_id=class_id, name=segmentation_metrics.class_iou_name(name)))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name='serving_examples',
                                  preprocessing_function_names=['transform_features'])],
      slicing_specs=[tfma.SlicingSpec(),
                     *(tfma.SlicingSpec(feature_keys=[f]) for f in slice_features)],
      metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
      # The default metrics are Keras' compiled ones, which need a label key.
      options=tfma.Options(include_default_metrics={'value': False}),
  )

