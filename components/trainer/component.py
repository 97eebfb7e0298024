"""The training stage: TFX's Trainer, with the training settings that Kubeflow runs may
change at submission (config.RUNTIME_PARAMETERS) as execution properties of their own.

A KFP runtime parameter must be a whole execution property, while TFX's Trainer takes one
JSON `custom_config`. This Trainer adds the table's training entries as properties; its
executor folds them into the custom_config before TFX's own executor runs `run_fn`
(models/module_file.py). Locally they hold plain values, so the pipeline is the same on every
runner.
"""
import json
from typing import Any, Dict, Mapping, Union

from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from petseg.components.trainer import executor


Value = Union[int, float, str, data_types.RuntimeParameter]


class TrainerSpec(standard_component_specs.TrainerSpec):
  PARAMETERS = {**standard_component_specs.TrainerSpec.PARAMETERS,
                **{p.name: ExecutionParameter(type=p.ptype) for p in executor.PARAMETERS}}


NODE_ID = 'Trainer'  # the step's id in every pipeline and record


class Trainer(base_component.BaseComponent):
  """tfx.components.Trainer (run_fn by import path) with the training runtime parameters:
  `parameters` holds a value, or a RuntimeParameter, for each name in executor.PARAMETERS."""
  SPEC_CLASS = TrainerSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.TrainerExecutor)

  def __init__(self, examples: types.BaseChannel, transform_graph: types.BaseChannel,
               run_fn: str, custom_config: Dict[str, Any], parameters: Mapping[str, Value],
               train_args: trainer_pb2.TrainArgs, eval_args: trainer_pb2.EvalArgs):
    super().__init__(spec=TrainerSpec(
        examples=examples, transform_graph=transform_graph, run_fn=run_fn,
        train_args=train_args, eval_args=eval_args,
        custom_config=json_utils.dumps(custom_config),
        **{p.name: parameters[p.name] for p in executor.PARAMETERS},
        model=types.Channel(type=standard_artifacts.Model),
        model_run=types.Channel(type=standard_artifacts.ModelRun)))


def _property(execution: metadata_store_pb2.Execution, name: str):
  value = execution.custom_properties[name]
  return getattr(value, value.WhichOneof('value'))


def training_config_of(trainer: metadata_store_pb2.Execution) -> Dict[str, Any]:
  """The configuration a Trainer execution trained with, from ML Metadata."""
  config = json.loads(_property(trainer, standard_component_specs.CUSTOM_CONFIG_KEY))
  config.update({p.field: _property(trainer, p.name) for p in executor.PARAMETERS})
  return config

