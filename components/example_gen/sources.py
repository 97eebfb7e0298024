"""Datasets by name: `--dataset NAME` picks one, as `--model NAME` picks a model.

A source is everything petseg needs to know of one kind of dataset: its reader, the curated
schema its examples must satisfy, the raw features the evaluation reports slices of, and
the classes its masks hold when the settings do not say. A reader has one interface:

  fingerprint_patterns(config) -> {split: glob}: files whose change invalidates the cache
      (ExampleGen's driver fingerprints them);
  read(pipeline, data_dir, config) -> (PCollection of items.Candidate, [items.Skipped]):
      the items to ingest and what was skipped while listing them.

Readers are imported when data is read, so that the CLI lists the sources without loading
TFX. Adding a source is two files: its reader module, and its entry in SOURCES below (see
docs/architecture.md).
"""
import dataclasses
import importlib
from typing import Any, Callable, Dict, Mapping, Optional, Protocol, Tuple

from petseg.core import config as config_lib
from petseg.core import errors
from petseg.core import labels as labels_lib


class Reader(Protocol):
  """What a source's reader module provides (see the module docstring)."""

  def fingerprint_patterns(self, config: config_lib.DatasetConfig) -> Dict[str, str]:
    ...

  def read(self, pipeline: Any, data_dir: str, config: config_lib.DatasetConfig
           ) -> Tuple[Any, list]:
    ...


@dataclasses.dataclass(frozen=True)
class Source:
  """One kind of dataset (see the module docstring)."""
  # Import path of the reader module.
  reader_module: str
  # A file of schemas/ (folder.pbtxt fits any image/mask pairs).
  schema: str
  # (data dir, dataset settings) -> the classes when the settings name none.
  default_labels: Callable[[str, Mapping[str, Any]], labels_lib.LabelSpec]
  # One line for `--help`.
  description: str
  # Raw string features that the evaluation reports a slice of each value of.
  slice_features: Tuple[str, ...] = ()
  # False when the reader makes the data directory itself (TFDS downloads into it).
  needs_data_dir: bool = True

  @property
  def reader(self) -> Reader:
    return importlib.import_module(self.reader_module)


def _oxford_labels(data_dir: str, settings: Mapping[str, Any]) -> labels_lib.LabelSpec:
  del data_dir
  return labels_lib.oxford_trimap_labels(bool(settings.get('border_as_ignore')))


def _folder_labels(data_dir: str, settings: Mapping[str, Any]) -> labels_lib.LabelSpec:
  # Imported when called: the CLI imports this module, and TFX's file I/O loads TensorFlow.
  from petseg.components.example_gen import folder_reader  # pylint: disable=g-import-not-at-top
  return folder_reader.default_labels(data_dir, settings)


_READERS = 'petseg.components.example_gen.'
SOURCES: Dict[str, Source] = {
    'oxford_pets': Source(_READERS + 'oxford_reader', 'oxford_pets.pbtxt',
                          _oxford_labels, 'the official Oxford-IIIT Pet layout',
                          slice_features=('species',)),
    'tfds': Source(_READERS + 'tfds_reader', 'oxford_pets.pbtxt', _oxford_labels,
                   'oxford_iiit_pet from TensorFlow Datasets; --data-dir is its data directory',
                   slice_features=('species',), needs_data_dir=False),
    'folder': Source(_READERS + 'folder_reader', 'folder.pbtxt', _folder_labels,
                     "images/ beside masks/, or CamVid's layout"),
    'camvid': Source(_READERS + 'folder_reader', 'folder.pbtxt',
                     lambda *_: labels_lib.camvid_labels(), 'a folder of CamVid class ids'),
    'voc': Source(_READERS + 'folder_reader', 'folder.pbtxt',
                  lambda *_: labels_lib.voc_labels(), 'a folder of VOC colour masks'),
}
# Dataset settings that choose the labels rather than being DatasetConfig fields.
LABEL_KEYS = ('palette', 'ignore_colours', 'class_names', 'ignore_values', 'border_as_ignore')


def get(name: str) -> Source:
  if name not in SOURCES:
    raise errors.ConfigError(f'unknown dataset {name!r}; expected one of {sorted(SOURCES)}')
  return SOURCES[name]


def help_text() -> str:
  """`--dataset`'s help: every source and what it reads."""
  return ', '.join(f'{name} ({source.description})' for name, source in SOURCES.items())


def dataset_config(name: str, data_dir: str,
                   settings: Optional[Mapping[str, Any]] = None) -> config_lib.DatasetConfig:
  """The DatasetConfig of a source, with settings from a config file or flags."""
  source = get(name)
  settings = dict(settings or {})
  known = {f.name for f in dataclasses.fields(config_lib.DatasetConfig)} - {'name', 'labels'}
  unknown = set(settings) - known - set(LABEL_KEYS)
  if unknown:
    raise errors.ConfigError(f'unknown dataset settings {sorted(unknown)}; '
                             f'expected some of {sorted(known | set(LABEL_KEYS))}')
  labels = (config_lib.labels_from_settings(settings) or
            source.default_labels(data_dir, settings))
  return config_lib.DatasetConfig(name=name, labels=labels,
                                  **{k: v for k, v in settings.items() if k in known})
