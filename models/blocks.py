"""Building blocks shared by the models: conv + batch norm + activation, and encoders."""
from typing import Callable, Optional, Sequence

import tf_keras as keras
from tf_keras import layers

ENCODER = 'encoder'  # The name of every pretrainable encoder, so that it can be frozen.


def conv_bn(x, filters: int, kernel: int = 3, activation: Optional[str] = 'relu',
            separable: bool = False, dilation: int = 1):
  conv = layers.SeparableConv2D if separable else layers.Conv2D
  x = conv(filters, kernel, padding='same', dilation_rate=dilation, use_bias=False)(x)
  x = layers.BatchNormalization()(x)
  return layers.Activation(activation)(x) if activation else x


def encoder(application: Callable[..., keras.Model], outputs: Sequence[str], image_size: int,
            weights: Optional[str]) -> keras.Model:
  """A keras.applications backbone cut at `outputs`, as one nested model named ENCODER.

  `weights` is a local weights file (e.g. the ImageNet .h5 that Keras would download) or
  None for random initialisation: nothing is fetched from the internet.
  """
  base = application(input_shape=(image_size, image_size, 3), include_top=False,
                     weights=weights)
  return keras.Model(base.input, [base.get_layer(name).output for name in outputs],
                     name=ENCODER)


def resize_to(x, like):
  """Bilinear resize of `x` to the spatial size of `like` (static shapes)."""
  return layers.Resizing(like.shape[1], like.shape[2], interpolation='bilinear')(x)
