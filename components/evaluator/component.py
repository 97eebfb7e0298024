"""The evaluation stage: TFX's Evaluator with the release gate (config.ReleaseConfig), whose
settings in the runtime-parameter table are parameters of their own, and the baseline
taken from the release registry.

The EvalConfig reads raw test examples: the model's `transform_features` signature gives
the ground-truth mask at the model's size and `serving_examples` the predicted class map,
so evaluation sees what serving will. The metrics are components/evaluator/metrics.py's;
after TFMA, the executor draws each figure's 95% interval by a bootstrap over the test
images from TFMA's per-image confusion matrices (evaluation_results.write_intervals()).

The bounds (mean IoU, named classes) are TFMA thresholds on the whole split. The
comparison with the released model is not: TFMA's change thresholds judge point
estimates, which the luck of a few hundred test images moves by a few hundredths. The
executor decides it after TFMA, on the intervals of the paired differences, for the whole
split, each slice (species for Oxford Pets) and each class (core/comparison.py), and
withdraws the blessing when the model is worse beyond noise by more than allowed.
"""
import json
from typing import Mapping, Sequence, Union

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from petseg.components.evaluator import executor
from petseg.components.evaluator import metrics as segmentation_metrics
from petseg.core import config as config_lib
from petseg.core import labels as labels_lib

METRICS_MODULE = segmentation_metrics.__name__

Value = Union[int, float, str, data_types.RuntimeParameter]


def _metric(class_name: str, **config) -> tfma.MetricConfig:
  return tfma.MetricConfig(class_name=class_name, module=METRICS_MODULE,
                           config=json.dumps(config))


def eval_config(labels: labels_lib.LabelSpec,
                slice_features: Sequence[str] = ()) -> tfma.EvalConfig:
  """Raw test examples in; the model's `transform_features` gives the ground-truth mask at
  the model's size and `serving_examples` the predicted class map. No bounds: the
  executor sets the gate's (set_bounds), from the ReleaseConfig it is given."""
  class_ids = list(range(labels.num_classes))
  metrics = [
      _metric('MeanIoU', class_ids=class_ids),
      _metric('PixelAccuracy', class_ids=class_ids),
      _metric('ConfusionMatrix', num_classes=labels.num_classes),
      _metric('ImageConfusionMatrices', num_classes=labels.num_classes),
  ]
  for class_id, name in enumerate(labels.class_names):
    metrics.append(_metric('ClassIoU', class_ids=class_ids, class_id=class_id,
                           name=segmentation_metrics.class_iou_name(name)))
  return tfma.EvalConfig(
      # A SavedModel served through its signatures. Said, not detected: TFMA would otherwise
      # try to load each model as Keras first, which fails on the custom objects, in seconds.
      model_specs=[tfma.ModelSpec(signature_name='serving_examples', model_type=tfma.TF_GENERIC,
                                  preprocessing_function_names=['transform_features'])],
      slicing_specs=[tfma.SlicingSpec(),
                     *(tfma.SlicingSpec(feature_keys=[f]) for f in slice_features)],
      metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
      options=tfma.Options(
          # The default metrics are Keras' compiled ones, which need a label key.
          include_default_metrics={'value': False},
          # Not TFMA's: its jackknife and bootstrap (mean +- t sd of the replicates) leave
          # the metric's range on small samples, and its groups depend on arrival order.
          # The executor draws the intervals (core/bootstrap.py).
          compute_confidence_intervals={'value': False}),
  )


class EvaluatorSpec(standard_component_specs.EvaluatorSpec):
  PARAMETERS = {**standard_component_specs.EvaluatorSpec.PARAMETERS,
                executor.RELEASE_KEY: ExecutionParameter(type=str),
                **{p.name: ExecutionParameter(type=p.ptype) for p in executor.PARAMETERS}}


NODE_ID = 'Evaluator'  # the step's id in every pipeline and record


class Evaluator(base_component.BaseComponent):
  """tfx.components.Evaluator (EvalConfig, no module file) that applies the release gate
  `release` (its bounds set at run time), with the release runtime parameters:
  `parameters` holds a value, or a RuntimeParameter, for each name in executor.PARAMETERS."""
  SPEC_CLASS = EvaluatorSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.EvaluatorExecutor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
               baseline_model: types.BaseChannel, labels: labels_lib.LabelSpec,
               release: config_lib.ReleaseConfig, example_splits: Sequence[str],
               parameters: Mapping[str, Value], slice_features: Sequence[str] = ()):
    super().__init__(spec=EvaluatorSpec(
        examples=examples, model=model, baseline_model=baseline_model,
        eval_config=eval_config(labels, slice_features),
        example_splits=json_utils.dumps(example_splits),
        release=json.dumps(config_lib.without_parameters('release', release.to_json())),
        fairness_indicator_thresholds=json_utils.dumps(None),
        **{p.name: parameters[p.name] for p in executor.PARAMETERS},
        evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        blessing=types.Channel(type=standard_artifacts.ModelBlessing)))
