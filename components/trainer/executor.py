"""What the Trainer does beyond TFX's GenericExecutor: folds the training runtime
parameters into its custom_config, which models/module_file.py's run_fn reads."""
from typing import Any, Dict, Mapping

from tfx.components.trainer import executor as trainer_executor
from tfx.types import standard_component_specs
from tfx.utils import json_utils

from petseg.core import config as config_lib

PARAMETERS = config_lib.runtime_parameters('training')


class TrainerExecutor(trainer_executor.GenericExecutor):

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    super().Do(input_dict, output_dict, fold_training_parameters(exec_properties))


def fold_training_parameters(exec_properties: Mapping[str, Any]) -> Dict[str, Any]:
  """The Trainer's properties with the runtime parameters moved into its custom_config."""
  properties = dict(exec_properties)
  config = config_lib.fold_parameters(
      'training', json_utils.loads(properties[standard_component_specs.CUSTOM_CONFIG_KEY]),
      {p.name: properties.pop(p.name) for p in PARAMETERS})
  properties[standard_component_specs.CUSTOM_CONFIG_KEY] = json_utils.dumps(config)
  return properties
