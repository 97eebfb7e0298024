"""Models by name: `--model NAME` picks one; each has its own default input size."""
import dataclasses
from typing import Callable, Tuple

import tf_keras as keras

from petseg import config as config_lib
from petseg import errors
from petseg.models import deeplabv3plus
from petseg.models import fcn_vgg16
from petseg.models import sep_resnet_fcn
from petseg.models import unet_mobilenetv2
from petseg.models import unet_xception


@dataclasses.dataclass(frozen=True)
class ModelDef:
  # (num_classes, **options) -> a logits model that takes images of any size its stride
  # divides; the Trainer pads other sizes (blocks.PadToMultiple).
  build: Callable[..., keras.Model]
  default_size: int
  stride: int


MODELS = {
    module.__name__.rsplit('.', 1)[-1]: ModelDef(module.build, module.DEFAULT_SIZE,
                                                  module.STRIDE)
    for module in (unet_xception, fcn_vgg16, unet_mobilenetv2, sep_resnet_fcn, deeplabv3plus)
}


def get(name: str) -> ModelDef:
  if name not in MODELS:
    raise errors.ConfigError(f'unknown model {name!r}; expected one of {sorted(MODELS)}')
  return MODELS[name]


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


def build(name: str, num_classes: int, **options) -> keras.Model:
  """The logits model, for images of any size its stride divides."""
  return get(name).build(num_classes, **options)
