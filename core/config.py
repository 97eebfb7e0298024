"""Configuration types: the dataset and the release gate, and how every setting is checked.

A DatasetConfig says which source reads the data, what its masks mean, and how splits are
carved; components.sources.dataset_config() makes one from a dataset name and settings,
and it travels to the ExampleGen executor as JSON. A ReleaseConfig is the release gate.
RUNTIME_PARAMETERS is the one table of settings that Kubeflow runs can change at
submission. `check_number()` is how every configuration checks its numbers.
"""
import dataclasses
import json
import math
import typing
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

from petseg.core import bootstrap
from petseg.core import errors
from petseg.core import labels as labels_lib
from petseg.core import records

# `petseg predict --max-pixels`: larger images are skipped (a 48-megapixel photo fits).
DEFAULT_MAX_PIXELS = 50_000_000


def setting(default: Any = dataclasses.MISSING, *,
            help: Union[str, Callable[[], str]],  # pylint: disable=redefined-builtin
            flag: bool = True, metavar: Optional[str] = None,
            default_text: Optional[str] = None,
            choices: Optional[Callable[[], Sequence[str]]] = None,
            default_factory: Any = dataclasses.MISSING) -> Any:
  """A configuration field and its one description: what the config file's key means
  and, unless `flag` is False, the help of the command-line flag made from it (`flags()`).
  `default_text` says the default where its value would not (e.g. "the model's own");
  `help` and `choices` may be functions, for what is registered at run time (models)."""
  return dataclasses.field(default=default, default_factory=default_factory, metadata={
      'help': help, 'flag': flag, 'metavar': metavar, 'default_text': default_text,
      'choices': choices})


@dataclasses.dataclass(frozen=True)
class Flag:
  """A command-line flag made from a field of a section of the run configuration."""
  section: str  # 'dataset', 'training' or 'release'
  field: str
  kind: Any  # the field's type
  help: str  # with its default
  metavar: Optional[str] = None
  choices: Optional[Sequence[str]] = None

  @property
  def option(self) -> str:
    return '--' + self.field.replace('_', '-')


def _shown(field: dataclasses.Field) -> str:
  if field.metadata.get('default_text'):
    return field.metadata['default_text']
  value = (field.default_factory() if field.default_factory is not dataclasses.MISSING
           else field.default)
  if value is None or value == {}:
    return 'none'
  if isinstance(value, tuple):
    return format_size(value)
  return f'{value:g}' if isinstance(value, float) else str(value)


def flags(section: str, config_class: type) -> Tuple[Flag, ...]:
  """The flags of a section: one per field given with `setting(..., flag=True)`, its help
  the field's, its default said."""
  hints = typing.get_type_hints(config_class)

  def called(value):
    return value() if callable(value) else value

  return tuple(
      Flag(section, f.name, hints[f.name],
           called(f.metadata['help']) if hints[f.name] is bool else
           f'{called(f.metadata["help"])} (default: {_shown(f)})', f.metadata['metavar'],
           called(f.metadata['choices']))
      for f in dataclasses.fields(config_class) if f.metadata.get('flag'))


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
  # The source (components.sources) that reads the data.
  name: str
  labels: labels_lib.LabelSpec
  eval_fraction: float = setting(
      0.2, help='share of the training list carved out, by a hash of the name, as eval')
  test_fraction: float = setting(
      0.1, help='share carved out as test where the data has no test split of its own')
  max_reject_fraction: float = setting(
      0.05, help='fail when a split rejects more than this share of its items')
  tfds_name: str = 'oxford_iiit_pet'
  follow_symlinks: bool = setting(
      False, help='read files that symlinks in the data directory point to outside it '
      '(otherwise they are rejected as outside_data_dir)')

  def __post_init__(self):
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


# The demo's model scores about 0.65 on the test split; an untrained one, or one that
# paints every pixel background, scores 0.1-0.26.
DEFAULT_MIN_MEAN_IOU = 0.4


@dataclasses.dataclass(frozen=True)
class ReleaseConfig:
  """The release gate. A model is blessed when, on the test split, its mean IoU reaches
  `min_mean_iou` and each class named in `min_class_iou` reaches its own bound; and, once
  a model has been released, when it is not worse than the released model beyond noise
  (core/comparison.py) by more than `max_mean_iou_drop` in mean IoU, `max_slice_drop` in
  any slice's mean IoU or in any class's IoU (in the whole split or a slice), or a class's
  own `max_class_drop`. A slice or class in fewer than `min_slice_images` test images is
  not judged: "too few images to judge". The 95% intervals are a bootstrap over the test
  images (core/bootstrap.py) with `bootstrap_resamples` draws from `bootstrap_seed`; the
  checks share one bound, so that a model within all its allowed drops is refused at most
  `error_rate` of the time (comparison.Family)."""
  min_mean_iou: float = setting(
      DEFAULT_MIN_MEAN_IOU, help='bless a model only if its test mean IoU reaches this')
  min_class_iou: Mapping[str, float] = setting(
      default_factory=dict, metavar='CLASS=X',
      help='and only if this class\'s IoU reaches X (repeatable)')
  max_mean_iou_drop: float = setting(
      0.01, help='and only if its mean IoU is not below the released model\'s, on the same '
      'test images, beyond noise by more than this')
  max_slice_drop: float = setting(
      0.02, help='nor any slice\'s mean IoU, nor any class\'s IoU in the whole split or a '
      'slice, by more than this')
  max_class_drop: Mapping[str, float] = setting(
      default_factory=dict, metavar='CLASS=X',
      help='this class\'s own allowed drop instead (repeatable)')
  min_slice_images: int = setting(
      bootstrap.DEFAULT_MIN_IMAGES, metavar='N',
      help='a slice, or a class, in fewer test images than this is not judged against the '
      'released model: "too few images to judge" (docs/statistics.md: how the intervals '
      'hold at that size)')
  bootstrap_resamples: int = bootstrap.DEFAULT_RESAMPLES
  bootstrap_seed: int = bootstrap.DEFAULT_SEED
  error_rate: float = bootstrap.DEFAULT_ERROR_RATE

  def __post_init__(self):
    check_number('min_slice_images', self.min_slice_images, 1, integer=True)
    check_number('bootstrap_resamples', self.bootstrap_resamples, 100, integer=True)
    check_number('bootstrap_seed', self.bootstrap_seed, 0, integer=True)
    check_number('error_rate', self.error_rate, 0, 0.5, open_low=True)
    for name, bound in [('min_mean_iou', self.min_mean_iou),
                        *((f'min_class_iou[{k}]', v) for k, v in self.min_class_iou.items())]:
      check_number(name, bound, 0, 1)
    for name, drop in [('max_mean_iou_drop', self.max_mean_iou_drop),
                       ('max_slice_drop', self.max_slice_drop),
                       *((f'max_class_drop[{k}]', v) for k, v in self.max_class_drop.items())]:
      check_number(name, drop, 0)

  def check_classes(self, labels: labels_lib.LabelSpec) -> None:
    for field in ('min_class_iou', 'max_class_drop'):
      unknown = sorted(set(getattr(self, field)) - set(labels.class_names))
      if unknown:
        raise errors.ConfigError(f'{field} names unknown classes {unknown}; the classes '
                                 f'are {list(labels.class_names)}')

  def allowed_drops(self) -> Dict[str, Any]:
    """The settings of the comparison with the released model."""
    return {'max_mean_iou_drop': self.max_mean_iou_drop,
            'max_slice_drop': self.max_slice_drop,
            'max_class_drop': dict(self.max_class_drop)}

  def intervals(self) -> bootstrap.Settings:
    """How the gate's intervals are drawn."""
    return bootstrap.Settings(self.min_slice_images, self.bootstrap_resamples,
                              self.bootstrap_seed, self.error_rate)

  def to_json(self) -> Dict[str, Any]:
    return records.fields_to_json(self)

  @classmethod
  def from_json(cls, data: Mapping[str, Any]) -> 'ReleaseConfig':
    return records.fields_from_json(cls, data, 'release')


@dataclasses.dataclass(frozen=True)
class ParameterDef:
  """A setting that a Kubeflow run can change when it is submitted: the execution
  property `name` of a component, standing for `field` of the run config's `section`."""
  name: str
  section: str  # 'training' or 'release'
  field: str
  ptype: type


# The one table of runtime parameters: the Trainer's and Evaluator's extra execution
# properties, the compiled spec's pipeline parameters and their defaults all come from it.
RUNTIME_PARAMETERS = (
    ParameterDef('model_name', 'training', 'model', str),
    ParameterDef('epochs', 'training', 'epochs', int),
    ParameterDef('learning_rate', 'training', 'learning_rate', float),
    ParameterDef('min_mean_iou', 'release', 'min_mean_iou', float),
)


def runtime_parameters(section: str):
  """The runtime parameters that stand for fields of one section of the run config."""
  return tuple(p for p in RUNTIME_PARAMETERS if p.section == section)


def without_parameters(section: str, settings: Mapping[str, Any]) -> Dict[str, Any]:
  """A section's settings (JSON) less the fields its runtime parameters carry: what a
  component is given beside them, so that each value travels once."""
  fields = {p.field for p in runtime_parameters(section)}
  return {key: value for key, value in settings.items() if key not in fields}


def fold_parameters(section: str, settings: Mapping[str, Any],
                    values: Mapping[str, Any]) -> Dict[str, Any]:
  """A section's settings (JSON) with each of its runtime parameters' value (`values`, by
  parameter name) in its field."""
  return {**settings, **{p.field: values[p.name] for p in runtime_parameters(section)}}


def labels_from_settings(overrides: Mapping[str, Any]) -> Optional[labels_lib.LabelSpec]:
  """Labels given in a config file: class-id masks or colour-coded masks; None if none."""
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


def load_settings(path: str) -> dict:
  """Dataset settings from a JSON file (see README, "Configuration")."""
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
