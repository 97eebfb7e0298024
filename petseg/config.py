"""Dataset configuration: which reader, which labels, how splits are carved, how strict.

`dataset_config()` turns a dataset name (a preset) plus optional overrides from a JSON
file or flags into a DatasetConfig; the config travels to the ExampleGen executor as JSON.
`check_number()` is how every configuration checks its numbers.
"""
import dataclasses
import json
import math
from typing import Any, Mapping, Optional, Tuple

from petseg import errors
from petseg import labels as labels_lib

SOURCES = ('oxford_pets', 'folder', 'tfds')
# `petseg predict --max-pixels`: larger images are skipped (a 48-megapixel photo fits).
DEFAULT_MAX_PIXELS = 50_000_000
# Dataset name -> the source that reads it; _preset_labels() gives its classes.
PRESETS = {
    'oxford_pets': 'oxford_pets',
    'tfds': 'tfds',
    'folder': 'folder',
    'camvid': 'folder',
    'voc': 'folder',
}


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
  name: str
  source: str
  labels: labels_lib.LabelSpec
  # Fraction of the training list carved out, by a hash of the name, as the eval split.
  eval_fraction: float = 0.2
  # Folders without a test split of their own give this fraction to test.
  test_fraction: float = 0.1
  # More rejected items than this (per split) fails the run.
  max_reject_fraction: float = 0.05
  tfds_name: str = 'oxford_iiit_pet'
  # Files reached through a symlink that leaves the data directory are rejected unless set.
  follow_symlinks: bool = False

  def __post_init__(self):
    if self.source not in SOURCES:
      raise errors.ConfigError(f'unknown source {self.source!r}; expected one of {SOURCES}')
    for field in ('eval_fraction', 'test_fraction', 'max_reject_fraction'):
      check_number(field, getattr(self, field), 0, 1)
    if self.eval_fraction + self.test_fraction >= 1.0:
      raise errors.ConfigError('eval_fraction + test_fraction must leave something to train on')

  def to_json(self) -> dict:
    data = dataclasses.asdict(self)
    data['labels'] = self.labels.to_json()
    return data

  @classmethod
  def from_json(cls, data: Mapping[str, Any]) -> 'DatasetConfig':
    return cls(**{**data, 'labels': labels_lib.LabelSpec.from_json(data['labels'])})


def _labels_from_overrides(overrides: Mapping[str, Any]) -> Optional[labels_lib.LabelSpec]:
  """Labels given in a config file: class-id masks or colour-coded masks."""
  palette = overrides.get('palette')
  if palette == 'voc':
    return labels_lib.voc_labels()
  if palette is not None:
    return labels_lib.palette_labels(
        [(entry['name'], tuple(entry['colour'])) for entry in palette],
        [tuple(c) for c in overrides.get('ignore_colours', ())])
  if 'class_names' in overrides:
    return labels_lib.class_id_labels(
        overrides['class_names'], overrides.get('ignore_values', [labels_lib.IGNORE_ID]))
  return None


def _preset_labels(name: str, data_dir: str, border_as_ignore: bool) -> labels_lib.LabelSpec:
  if name in ('oxford_pets', 'tfds'):
    return labels_lib.oxford_trimap_labels(border_as_ignore)
  if name == 'camvid':
    return labels_lib.camvid_labels()
  if name == 'voc':
    return labels_lib.voc_labels()
  # A plain folder: CamVid's "dataset1" layout implies CamVid's classes; anything else
  # must say what its mask values mean.
  from petseg.components import folder_reader  # pylint: disable=g-import-not-at-top
  if folder_reader.detect_layout(data_dir) == folder_reader.CAMVID_LAYOUT:
    return labels_lib.camvid_labels()
  raise errors.ConfigError(
      f'the folder dataset in {data_dir} needs its classes: pass --config FILE with '
      '{"class_names": [...], "ignore_values": [...]} for class-id masks or '
      '{"palette": "voc" | [{"name": ..., "colour": [r, g, b]}, ...]} for colour masks')


def dataset_config(name: str, data_dir: str,
                   overrides: Optional[Mapping[str, Any]] = None) -> DatasetConfig:
  """The DatasetConfig for a preset name, with overrides from a config file or flags."""
  if name not in PRESETS:
    raise errors.ConfigError(f'unknown dataset {name!r}; expected one of {sorted(PRESETS)}')
  overrides = dict(overrides or {})
  known = {f.name for f in dataclasses.fields(DatasetConfig)} - {'name', 'source', 'labels'}
  label_keys = {'palette', 'ignore_colours', 'class_names', 'ignore_values',
                'border_as_ignore'}
  unknown = set(overrides) - known - label_keys
  if unknown:
    raise errors.ConfigError(f'unknown dataset settings {sorted(unknown)}; '
                             f'expected some of {sorted(known | label_keys)}')
  labels = (_labels_from_overrides(overrides) or
            _preset_labels(name, data_dir, bool(overrides.get('border_as_ignore'))))
  return DatasetConfig(name=name, source=PRESETS[name], labels=labels,
                       **{k: v for k, v in overrides.items() if k in known})


def check_number(name: str, value: Any, low: float, high: float = math.inf, *,
                 integer: bool = False, open_low: bool = False, open_high: bool = False) -> None:
  """Raises ConfigError unless `value` is a finite number (an integer, if asked) in the
  range from `low` to `high`, bounds included unless said to be open."""
  kind = 'an integer' if integer else 'a finite number'
  fits = (isinstance(value, int) if integer else isinstance(value, (int, float)))
  if not fits or isinstance(value, bool) or not math.isfinite(value) or not (
      (low < value if open_low else low <= value) and
      (value < high if open_high else value <= high)):
    if high == math.inf:
      what = f'{kind} {">" if open_low else ">="} {low:g}'
    else:
      what = f'{kind} in {"(" if open_low else "["}{low:g}, {high:g}{")" if open_high else "]"}'
    raise errors.ConfigError(f'{name} must be {what}, got {value!r}')


def image_size(name: str, value: Any) -> Tuple[int, int]:
  """(height, width) from 160, '160', '360x480' or [360, 480]; ConfigError otherwise."""
  pair = value
  if isinstance(value, str):
    try:
      pair = [int(part) for part in value.lower().split('x')]
    except ValueError:
      pair = None
  elif not isinstance(value, (list, tuple)):
    pair = [value]
  if not pair or len(pair) > 2:
    raise errors.ConfigError(f'{name} must be N or HxW, e.g. 160 or 360x480, got {value!r}')
  pair = tuple(pair) * 2 if len(pair) == 1 else tuple(pair)  # N is NxN
  for side in pair:
    check_number(name, side, 1, integer=True)
  return pair


def format_size(size) -> str:
  """(360, 480) -> '360x480'."""
  return 'x'.join(str(side) for side in size)


def dataclass_from_json(cls, data: Mapping[str, Any], kind: str):
  """`cls(**data)`, refusing keys that are not its fields with a message naming `kind`."""
  known = {f.name for f in dataclasses.fields(cls)}
  unknown = set(data) - known
  if unknown:
    raise errors.ConfigError(f'unknown {kind} settings {sorted(unknown)}; '
                             f'expected some of {sorted(known)}')
  return cls(**data)


def load_overrides(path: str) -> dict:
  """Dataset settings from a JSON file (see README, "Running the pipeline")."""
  try:
    with open(path) as f:
      overrides = json.load(f)
  except OSError as e:
    raise errors.ConfigError(f'{path}: cannot read the config file ({e.strerror})') from None
  except json.JSONDecodeError as e:
    raise errors.ConfigError(f'{path}: not valid JSON ({e})') from None
  if not isinstance(overrides, dict):
    raise errors.ConfigError(f'{path}: expected a JSON object of settings')
  return overrides
