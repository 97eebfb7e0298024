"""TFX's Trainer and Evaluator, with the settings users change between runs as execution
properties of their own, so that Kubeflow can expose each as a pipeline parameter.

A KFP runtime parameter must be a whole execution property, while TFX's Trainer takes one
JSON `custom_config` and its Evaluator one EvalConfig. These components add `model_name`,
`epochs` and `learning_rate` to the Trainer and `min_mean_iou` to the Evaluator; their
executors fold the values into the config before TFX's own executors run. Locally they
hold plain values, so the pipeline is the same on every runner.
"""
import json
from typing import Any, Dict, Mapping, Union

from ml_metadata.proto import metadata_store_pb2
import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils
from tfx.utils import proto_utils

from petseg.components import release_registry
from petseg.pipeline import release

# Trainer execution property -> TrainingConfig field.
TRAINING_PARAMETERS = {'model_name': 'model', 'epochs': 'epochs',
                       'learning_rate': 'learning_rate'}
MIN_MEAN_IOU = 'min_mean_iou'

Value = Union[int, float, str, data_types.RuntimeParameter]


class TrainerSpec(standard_component_specs.TrainerSpec):
  PARAMETERS = {**standard_component_specs.TrainerSpec.PARAMETERS,
                'model_name': ExecutionParameter(type=str),
                'epochs': ExecutionParameter(type=int),
                'learning_rate': ExecutionParameter(type=float)}


class TrainerExecutor(trainer_executor.GenericExecutor):

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    super().Do(input_dict, output_dict, fold_training_parameters(exec_properties))


def fold_training_parameters(exec_properties: Mapping[str, Any]) -> Dict[str, Any]:
  """The Trainer's properties with the tunable ones moved into its custom_config."""
  properties = dict(exec_properties)
  config = json_utils.loads(properties[standard_component_specs.CUSTOM_CONFIG_KEY])
  for name, field in TRAINING_PARAMETERS.items():
    config[field] = properties.pop(name)
  properties[standard_component_specs.CUSTOM_CONFIG_KEY] = json_utils.dumps(config)
  return properties


class Trainer(base_component.BaseComponent):
  """tfx.components.Trainer (run_fn by import path) with tunable training settings."""
  SPEC_CLASS = TrainerSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(TrainerExecutor)

  def __init__(self, examples: types.BaseChannel, transform_graph: types.BaseChannel,
               run_fn: str, custom_config: Dict[str, Any], model_name: Value, epochs: Value,
               learning_rate: Value, train_args: trainer_pb2.TrainArgs,
               eval_args: trainer_pb2.EvalArgs):
    super().__init__(spec=TrainerSpec(
        examples=examples, transform_graph=transform_graph, run_fn=run_fn,
        train_args=train_args, eval_args=eval_args,
        custom_config=json_utils.dumps(custom_config), model_name=model_name, epochs=epochs,
        learning_rate=learning_rate,
        model=types.Channel(type=standard_artifacts.Model),
        model_run=types.Channel(type=standard_artifacts.ModelRun)))


class EvaluatorSpec(standard_component_specs.EvaluatorSpec):
  PARAMETERS = {**standard_component_specs.EvaluatorSpec.PARAMETERS,
                MIN_MEAN_IOU: ExecutionParameter(type=float)}


class EvaluatorExecutor(evaluator_executor.Executor):
  """TFX's Evaluator, with the tunable bound folded in and the baseline taken from the
  release registry: none when nothing has been released yet, so that the change
  threshold is skipped on a first release, as TFX does without a baseline."""

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    inputs = dict(input_dict)
    baseline = inputs.get(standard_component_specs.BASELINE_MODEL_KEY)
    if baseline and not baseline[0].get_int_custom_property(release_registry.VERSION):
      del inputs[standard_component_specs.BASELINE_MODEL_KEY]
    super().Do(inputs, output_dict, fold_min_mean_iou(exec_properties))


def fold_min_mean_iou(exec_properties: Mapping[str, Any]) -> Dict[str, Any]:
  """The Evaluator's properties with `min_mean_iou` moved into its EvalConfig."""
  properties = dict(exec_properties)
  config = proto_utils.json_to_proto(properties[standard_component_specs.EVAL_CONFIG_KEY],
                                     tfma.EvalConfig())
  release.set_min_mean_iou(config, properties.pop(MIN_MEAN_IOU))
  properties[standard_component_specs.EVAL_CONFIG_KEY] = proto_utils.proto_to_json(config)
  return properties


class Evaluator(base_component.BaseComponent):
  """tfx.components.Evaluator (EvalConfig, no module file) with a tunable mean-IoU bound."""
  SPEC_CLASS = EvaluatorSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(EvaluatorExecutor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
               baseline_model: types.BaseChannel, eval_config: tfma.EvalConfig,
               example_splits, min_mean_iou: Value):
    super().__init__(spec=EvaluatorSpec(
        examples=examples, model=model, baseline_model=baseline_model,
        eval_config=eval_config, example_splits=json_utils.dumps(example_splits),
        fairness_indicator_thresholds=json_utils.dumps(None), min_mean_iou=min_mean_iou,
        evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        blessing=types.Channel(type=standard_artifacts.ModelBlessing)))


def _property(execution: metadata_store_pb2.Execution, name: str):
  value = execution.custom_properties[name]
  return getattr(value, value.WhichOneof('value'))


def training_config_of(trainer: metadata_store_pb2.Execution) -> Dict[str, Any]:
  """The configuration a Trainer execution trained with, from ML Metadata."""
  config = json.loads(_property(trainer, standard_component_specs.CUSTOM_CONFIG_KEY))
  config.update({field: _property(trainer, name) for name, field in TRAINING_PARAMETERS.items()})
  return config

