"""Models by name: `--model NAME` picks one; each has its own default input size."""
import dataclasses
from typing import Callable

import tf_keras as keras

from petseg import errors
from petseg.models import deeplabv3plus
from petseg.models import fcn_vgg16
from petseg.models import sep_resnet_fcn
from petseg.models import unet_mobilenetv2
from petseg.models import unet_xception


@dataclasses.dataclass(frozen=True)
class ModelDef:
  build: Callable[..., keras.Model]  # (image_size, num_classes, **options) -> logits model
  default_size: int
  stride: int  # Input sizes must be multiples of it.


MODELS = {
    module.__name__.rsplit('.', 1)[-1]: ModelDef(module.build, module.DEFAULT_SIZE,
                                                  module.STRIDE)
    for module in (unet_xception, fcn_vgg16, unet_mobilenetv2, sep_resnet_fcn, deeplabv3plus)
}


def get(name: str) -> ModelDef:
  if name not in MODELS:
    raise errors.ConfigError(f'unknown model {name!r}; expected one of {sorted(MODELS)}')
  return MODELS[name]


def check_size(name: str, image_size: int) -> None:
  """Raises ConfigError unless the model takes `image_size` (a multiple of its stride)."""
  stride = get(name).stride
  if image_size % stride or image_size < stride:
    below, above = max(1, image_size // stride) * stride, -(-image_size // stride) * stride
    raise errors.ConfigError(f'{name} needs an image size divisible by {stride}, got '
                             f'{image_size}; try {below}' + (f' or {above}' if above != below
                                                              else ''))


def build(name: str, image_size: int, num_classes: int, **options) -> keras.Model:
  """The logits model; raises ConfigError when the size does not suit the model."""
  check_size(name, image_size)
  return get(name).build(image_size, num_classes, **options)
