"""The run configuration: the dataset, the training recipe and the release gate, as one
object whose fields are the config file's three sections.

  {"dataset": {...}, "training": {...}, "release": {...}}

Each section holds the fields of its config (DatasetConfig and its label settings,
TrainingConfig, ReleaseConfig); unknown keys are refused. Dataset settings may also sit at
the top level of the file, as they did before the "dataset" section existed. Flags are
merged in the same shape (`merge`), later sources winning.
"""
import dataclasses
from typing import Any, Dict, Mapping

from petseg.components.example_gen import sources
from petseg.core import config as config_lib
from petseg.core import errors
from petseg.models import training

SECTIONS = ('dataset', 'training', 'release')


@dataclasses.dataclass(frozen=True)
class RunConfig:
  dataset: config_lib.DatasetConfig
  training: training.TrainingConfig
  release: config_lib.ReleaseConfig = config_lib.ReleaseConfig()

  def __post_init__(self):
    self.release.check_classes(self.dataset.labels)

  @classmethod
  def from_settings(cls, dataset: str, data_dir: str,
                    settings: Mapping[str, Any]) -> 'RunConfig':
    """The run config of the source `dataset` (components.sources) for data in
    `data_dir`, from sectioned settings (see `sections`)."""
    sectioned = sections(settings)
    dataset_config = sources.dataset_config(dataset, data_dir, sectioned['dataset'])
    return cls(dataset=dataset_config,
               training=training.TrainingConfig.from_settings(
                   sectioned['training'], dataset_config.labels.num_classes),
               release=config_lib.ReleaseConfig.from_json(sectioned['release']))

  def parameter_values(self) -> Dict[str, Any]:
    """The value of every runtime parameter (config.RUNTIME_PARAMETERS) in this config."""
    return {p.name: getattr(getattr(self, p.section), p.field)
            for p in config_lib.RUNTIME_PARAMETERS}


def sections(settings: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
  """{section: its settings} from a config file's content; keys outside the sections are
  dataset settings (the file's older shape)."""
  settings = dict(settings)
  result = {}
  for name in SECTIONS:
    section = settings.pop(name, {})
    if not isinstance(section, Mapping):
      raise errors.ConfigError(f'the "{name}" settings must be a JSON object, got {section!r}')
    result[name] = dict(section)
  result['dataset'].update(settings)
  return result


def merge(*layers: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
  """Sectioned settings, each layer overriding the ones before it; the per-class settings
  (`min_class_iou`, `max_class_drop`) are merged class by class."""
  merged = {name: {} for name in SECTIONS}
  for layer in layers:
    for name, section in sections(layer).items():
      for key, value in section.items():
        if key in ('min_class_iou', 'max_class_drop'):
          value = {**merged[name].get(key, {}), **value}
        merged[name][key] = value
  return merged

