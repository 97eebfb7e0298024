"""Models by name: `--model NAME` picks one; each has its own default input size.

A model is a module with `build(num_classes, **options)`, which returns a logits model
that takes images of any size its stride divides (the Trainer pads other sizes:
blocks.PadToMultiple). This table says what each one is; its module is imported only when
a model is built, so that the CLI lists the models without loading TensorFlow.

Adding a model is two files: its module, and its entry in MODELS below (see
docs/architecture.md).
"""
import dataclasses
import importlib
from typing import Callable, Tuple

from petseg.core import config as config_lib
from petseg.core import errors


@dataclasses.dataclass(frozen=True)
class ModelDef:
  module: str  # import path of the module with build()
  default_size: int
  stride: int
  description: str  # one line for `--help`

  @property
  def build(self) -> Callable:
    return importlib.import_module(self.module).build


MODELS = {
    'unet_xception': ModelDef('petseg.models.unet_xception', 160, 16,
                              "keras-io's Xception-style U-Net"),
    'fcn_vgg16': ModelDef('petseg.models.fcn_vgg16', 224, 32, 'FCN-8s on VGG16'),
    'unet_mobilenetv2': ModelDef('petseg.models.unet_mobilenetv2', 128, 32,
                                 "the TF tutorial's MobileNetV2 U-Net"),
    'sep_resnet_fcn': ModelDef('petseg.models.sep_resnet_fcn', 224, 32,
                               'separable residual FCN'),
    'deeplabv3plus': ModelDef('petseg.models.deeplabv3plus', 224, 16, 'DeepLabV3+'),
}
DEFAULT = 'unet_xception'


def get(name: str) -> ModelDef:
  if name not in MODELS:
    raise errors.ConfigError(f'unknown model {name!r}; expected one of {sorted(MODELS)}')
  return MODELS[name]


def help_text() -> str:
  """`--model`'s help: every model, its default size and what it is."""
  return ', '.join(f'{name} ({m.description}, {m.default_size} px)'
                   for name, m in MODELS.items())


def check_crop_size(name: str, size: Tuple[int, int]) -> None:
  """Raises ConfigError unless the model trains on crops of `size` (height, width): both
  multiples of its stride."""
  stride = get(name).stride
  if any(side % stride or side < stride for side in size):
    below = [max(1, side // stride) * stride for side in size]
    above = [-(-side // stride) * stride for side in size]
    raise errors.ConfigError(
        f'{name} needs a crop size divisible by {stride}, got {config_lib.format_size(size)}; '
        f'try {config_lib.format_size(below)}' +
        (f' or {config_lib.format_size(above)}' if above != below else ''))


def build(name: str, num_classes: int, **options):
  """The logits model (a Keras model), for images of any size its stride divides."""
  return get(name).build(num_classes, **options)
