"""What the Evaluator does beyond TFX's: folds the release runtime parameters into the
gate and sets its bounds, leaves out a baseline when nothing has been released, then draws
the intervals and decides the comparison with the baseline on them, withdrawing the
blessing when a check fails."""
import json
import posixpath
from typing import Any, Dict, Mapping, Tuple

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import constants as tfx_constants
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from petseg.components.evaluator import metrics as segmentation_metrics
from petseg.components.evaluator import results as evaluation_results
from petseg.components.latest_release import executor as latest
from petseg.core import config as config_lib

PARAMETERS = config_lib.runtime_parameters('release')
# The ReleaseConfig, as JSON, less the fields of its runtime parameters (PARAMETERS): each
# is a property of its own, folded into its field at run time.
RELEASE_KEY = 'release'


def set_bounds(config: tfma.EvalConfig, release: config_lib.ReleaseConfig) -> None:
  """Sets the lower bounds of an EvalConfig made by eval_config() to `release`'s: its mean
  IoU and each class it names, on the whole split only (the slices are there to be read)."""
  prefix = segmentation_metrics.class_iou_name('')
  for metric in config.metrics_specs[0].metrics:
    name = json.loads(metric.config).get('name', '')
    bound = (release.min_mean_iou if metric.class_name == 'MeanIoU' else
             release.min_class_iou.get(name[len(prefix):]) if name.startswith(prefix) else None)
    del metric.per_slice_thresholds[:]
    if bound is not None:
      metric.per_slice_thresholds.add(slicing_specs=[tfma.SlicingSpec()]).threshold.CopyFrom(
          tfma.MetricThreshold(
              value_threshold=tfma.GenericValueThreshold(lower_bound={'value': bound})))


BLESSED_KEY = tfx_constants.ARTIFACT_PROPERTY_BLESSED_KEY


def _withdraw(blessing: types.Artifact) -> None:
  """Turns the blessing TFX wrote into a refusal, as TFX writes one."""
  fileio.remove(posixpath.join(blessing.uri, tfx_constants.BLESSED_FILE_NAME))
  with fileio.open(posixpath.join(blessing.uri, tfx_constants.NOT_BLESSED_FILE_NAME), 'w'):
    pass
  blessing.set_int_custom_property(BLESSED_KEY, tfx_constants.NOT_BLESSED_VALUE)


class EvaluatorExecutor(evaluator_executor.Executor):
  """TFX's Evaluator, with the release parameters folded in and the baseline taken from the
  release registry (none when nothing has been released yet: then there is nothing to
  compare with), then the intervals drawn and the comparison with the baseline decided on
  them."""

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    inputs = dict(input_dict)
    baseline = inputs.get(standard_component_specs.BASELINE_MODEL_KEY)
    if baseline and not baseline[0].get_int_custom_property(latest.VERSION):
      del inputs[standard_component_specs.BASELINE_MODEL_KEY]
    properties, release = fold_release_parameters(exec_properties)
    super().Do(inputs, output_dict, properties)
    evaluation, = output_dict[standard_component_specs.EVALUATION_KEY]
    evaluation_results.write_gate(evaluation.uri, release)
    evaluation_results.write_intervals(
        evaluation.uri, proto_utils.json_to_proto(
            properties[standard_component_specs.EVAL_CONFIG_KEY], tfma.EvalConfig()),
        release.intervals())
    if standard_component_specs.BASELINE_MODEL_KEY not in inputs:
      return
    comparison = evaluation_results.compare(
        evaluation_results.load(evaluation.uri), release.allowed_drops(),
        release.min_slice_images, evaluation_results.read_family(evaluation.uri))
    evaluation_results.write_comparison(evaluation.uri, comparison)
    blessing, = output_dict[standard_component_specs.BLESSING_KEY]
    if comparison.reasons() and blessing.get_int_custom_property(BLESSED_KEY):
      _withdraw(blessing)


def fold_release_parameters(exec_properties: Mapping[str, Any]
                            ) -> Tuple[Dict[str, Any], config_lib.ReleaseConfig]:
  """The Evaluator's properties as TFX's executor takes them, and the release gate they
  hold: the ReleaseConfig with each runtime parameter in its field, its bounds set in the
  EvalConfig."""
  properties = dict(exec_properties)
  release = config_lib.ReleaseConfig.from_json(config_lib.fold_parameters(
      'release', json.loads(properties.pop(RELEASE_KEY)),
      {p.name: properties.pop(p.name) for p in PARAMETERS}))
  config = proto_utils.json_to_proto(properties[standard_component_specs.EVAL_CONFIG_KEY],
                                     tfma.EvalConfig())
  set_bounds(config, release)
  properties[standard_component_specs.EVAL_CONFIG_KEY] = proto_utils.proto_to_json(config)
  return properties, release
