"""Building blocks shared by the models: conv + batch norm + activation, encoders, and
layers that let a fully convolutional model take images of any size."""
from typing import Callable, Optional, Sequence

import tensorflow as tf
import tf_keras as keras
from tf_keras import layers

ENCODER = 'encoder'  # The name of every pretrainable encoder, so that it can be frozen.


def conv_bn(x, filters: int, kernel: int = 3, activation: Optional[str] = 'relu',
            separable: bool = False, dilation: int = 1):
  conv = layers.SeparableConv2D if separable else layers.Conv2D
  x = conv(filters, kernel, padding='same', dilation_rate=dilation, use_bias=False)(x)
  x = layers.BatchNormalization()(x)
  return layers.Activation(activation)(x) if activation else x


def encoder(application: Callable[..., keras.Model], outputs: Sequence[str],
            weights: Optional[str]) -> keras.Model:
  """A keras.applications backbone cut at `outputs`, as one nested model named ENCODER.

  `weights` is a local weights file (e.g. the ImageNet .h5 that Keras would download) or
  None for random initialisation: nothing is fetched from the internet.
  """
  base = application(input_shape=(None, None, 3), include_top=False,
                     weights=weights)
  return keras.Model(base.input, [base.get_layer(name).output for name in outputs],
                     name=ENCODER)


class ResizeLike(layers.Layer):
  """Bilinear resize of the first input to the spatial size of the second, at run time."""

  def call(self, inputs):
    x, like = inputs
    return tf.image.resize(x, tf.shape(like)[1:3], method='bilinear')


def resize_to(x, like):
  return ResizeLike()([x, like])


class PadToMultiple(layers.Layer):
  """Pads height and width at the bottom and right, mirroring the image, up to multiples
  of `multiple`: a fully convolutional network then takes an image of any size (at least
  `multiple`), and CropLike cuts its output back to the image."""

  def __init__(self, multiple: int, **kwargs):
    super().__init__(**kwargs)
    self.multiple = multiple

  def call(self, x):
    shape = tf.shape(x)
    pad_h, pad_w = (-shape[1]) % self.multiple, (-shape[2]) % self.multiple
    return tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode='REFLECT')

  def get_config(self):
    return {**super().get_config(), 'multiple': self.multiple}


class CropLike(layers.Layer):
  """The top-left corner of the first input, of the second input's height and width."""

  def call(self, inputs):
    x, like = inputs
    shape = tf.shape(like)
    return x[:, :shape[1], :shape[2]]
