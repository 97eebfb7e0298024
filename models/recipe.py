"""The training recipe's settings: `TrainingConfig`, the run configuration's "training"
section, in a module without TensorFlow, so that the command line can make its flags
(`petseg run --help`) without loading it. models/training.py trains by it."""
import dataclasses
from typing import Any, Dict, Mapping, Optional, Tuple

from petseg.core import config as config_lib
from petseg.core.config import setting
from petseg.core import errors
from petseg.core import records
from petseg.models import registry

# cross_entropy, or cross entropy plus a term that targets IoU (training.LOSSES has each).
LOSS_NAMES = ('cross_entropy', 'cross_entropy+dice', 'cross_entropy+lovasz')


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
  """What `petseg run` passes to the Trainer (custom_config); see README, "Configuration"."""
  model: str = setting(registry.DEFAULT, metavar='NAME', help=registry.help_text,
                       choices=lambda: list(registry.MODELS))
  image_size: Tuple[int, int] = setting(
      (160, 160), metavar='N|HxW', default_text="the model's own",
      help='the size images and masks are resized to, trained, evaluated and served at, '
      'e.g. 160 or 360x480 (N is NxN); the model runs on the whole image, padded to its '
      'stride')
  crop_size: Optional[Tuple[int, int]] = setting(
      None, metavar='N|HxW', default_text='the image size rounded down to the stride',
      help='train on random crops of this size (multiples of the model\'s stride) of the '
      'zoomed image')
  num_classes: int = 3
  epochs: int = setting(20, help='training epochs (at most, with --max-train-minutes)')
  batch_size: int = setting(16, help='images a training step takes (per replica)')
  learning_rate: float = setting(1e-3, help='the peak of the warm-up and cosine schedule')
  optimizer: str = 'adam'  # adam | adamw | rmsprop
  weight_decay: float = 1e-4  # adamw only
  warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to zero
  class_weights: str = 'none'  # none | median_frequency
  # cross_entropy, or cross entropy plus a term that targets IoU: soft Dice or Lovasz-softmax.
  loss: str = 'cross_entropy'  # cross_entropy | cross_entropy+dice | cross_entropy+lovasz
  early_stopping_patience: int = 10  # epochs without a better eval mean IoU
  # Keras' default of 0.99 leaves the moving statistics of batch norm far from the real
  # ones after the few hundred steps of a small dataset, and eval then collapses to one
  # class (measured on the sample: eval mean IoU 0.26 while training reached 0.67).
  batchnorm_momentum: float = 0.9
  seed: int = 42
  # Augmentation, applied identically to image and mask (colour to the image only).
  flip: bool = True
  min_scale: float = 1.0  # random zoom in [min_scale, max_scale], then a random crop
  max_scale: float = 1.5
  colour_jitter: float = 0.1  # brightness/contrast/saturation amplitude; 0 turns it off
  # Pretrained encoder weights, frozen for some epochs: "imagenet" (Keras' published ones,
  # through Keras' download and cache) or a local weights file. The model then feeds the
  # encoder the input those weights expect (blocks.ImagenetPreprocessing).
  encoder_weights: Optional[str] = None
  freeze_encoder_epochs: int = 0
  # A pretrained encoder, once trainable, learns at this times the learning rate, so that
  # fine-tuning refines its weights rather than overwrites them.
  encoder_learning_rate_scale: float = 0.1
  # Serving and evaluation average the predictions of the image and its mirror image.
  test_time_flip: bool = False
  # An exponential moving average of the weights (Keras' optimizer keeps it: each step,
  # average = m * average + (1 - m) * weights); validation, the kept best epoch and the
  # exported model use it, training goes on from the weights themselves. 0 turns it off.
  ema_momentum: float = 0.0
  max_train_minutes: Optional[float] = setting(
      None, metavar='N', help='end training within N minutes, its schedule fitted to them; '
      'the best epoch\'s weights are kept')
  model_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  # What a recipe file says of itself (its name and what it does), shown in the run
  # summary. Its measured figures are docs/benchmarks.md's, never a run's.
  recipe: str = ''

  def __post_init__(self):
    if self.optimizer not in ('adam', 'adamw', 'rmsprop'):
      raise errors.ConfigError(f'optimizer must be adam, adamw or rmsprop, not {self.optimizer!r}')
    if self.class_weights not in ('none', 'median_frequency'):
      raise errors.ConfigError('class_weights must be none or median_frequency')
    if self.loss not in LOSS_NAMES:
      raise errors.ConfigError(f'loss must be one of {", ".join(LOSS_NAMES)}, not {self.loss!r}')
    check = config_lib.check_number
    for name in ('epochs', 'batch_size', 'early_stopping_patience', 'num_classes'):
      check(name, getattr(self, name), 1, integer=True)
    check('freeze_encoder_epochs', self.freeze_encoder_epochs, 0, integer=True)
    check('seed', self.seed, 0, integer=True)
    check('learning_rate', self.learning_rate, 0, open_low=True)
    for name in ('weight_decay', 'warmup_epochs'):
      check(name, getattr(self, name), 0)
    check('batchnorm_momentum', self.batchnorm_momentum, 0, 1, open_high=True)
    check('encoder_learning_rate_scale', self.encoder_learning_rate_scale, 0, 1,
          open_low=True)
    check('min_scale', self.min_scale, 0, 1, open_low=True)
    check('max_scale', self.max_scale, 1)
    check('colour_jitter', self.colour_jitter, 0, 1, open_high=True)
    check('ema_momentum', self.ema_momentum, 0, 1, open_high=True)
    if self.max_train_minutes is not None:
      check('max_train_minutes', self.max_train_minutes, 0, open_low=True)
    # Sizes are kept as (height, width) tuples, whichever form they were given in.
    object.__setattr__(self, 'image_size', config_lib.image_size('image_size', self.image_size))
    stride = registry.get(self.model).stride
    if min(self.image_size) < stride:
      raise errors.ConfigError(f'{self.model} needs an image size of at least {stride}, got '
                               f'{config_lib.format_size(self.image_size)}')
    if self.crop_size is not None:
      crop = config_lib.image_size('crop_size', self.crop_size)
      object.__setattr__(self, 'crop_size', crop)
      registry.check_crop_size(self.model, crop)
      if crop[0] > self.image_size[0] or crop[1] > self.image_size[1]:
        raise errors.ConfigError(f'crop_size {config_lib.format_size(crop)} is larger than '
                                 f'image_size {config_lib.format_size(self.image_size)}')

  @property
  def crop(self) -> Tuple[int, int]:
    """The training crop: crop_size, or the image size rounded down to the stride."""
    if self.crop_size is not None:
      return self.crop_size
    stride = registry.get(self.model).stride
    return tuple(side // stride * stride for side in self.image_size)

  def to_json(self) -> Dict[str, Any]:
    data = {**dataclasses.asdict(self), 'model_options': dict(self.model_options)}
    return {**data, **{k: list(data[k]) for k in ('image_size', 'crop_size') if data[k]}}

  @classmethod
  def from_json(cls, data: Mapping[str, Any]) -> 'TrainingConfig':
    return records.fields_from_json(cls, data, 'training')

  @classmethod
  def from_settings(cls, settings: Mapping[str, Any], num_classes: int) -> 'TrainingConfig':
    """From a config file's "training" object (and flags): the model's own image size
    unless the settings give one."""
    model = settings.get('model', cls.model)
    return cls.from_json({'image_size': registry.get(model).default_size, **settings,
                          'num_classes': num_classes})
