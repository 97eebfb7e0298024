"""Building blocks shared by the models: conv + batch norm + activation, encoders, and
layers that let a fully convolutional model take images of any size."""
import os
import posixpath
import re
from typing import Callable, Optional, Sequence

import tensorflow as tf
import tf_keras as keras
from tf_keras import layers

from petseg.core import errors

ENCODER = 'encoder'  # The name of every pretrainable encoder, so that it can be frozen.
IMAGENET = 'imagenet'  # encoder_weights: Keras' published weights, through Keras' cache
# The input each backbone's ImageNet weights were trained on, as its
# keras.applications.<module>.preprocess_input makes it from 0..255 RGB: 'tf' scales to
# [-1, 1]; 'caffe' turns RGB into BGR and subtracts ImageNet's mean per channel.
PREPROCESSING = {'MobileNetV2': 'tf', 'Xception': 'tf', 'VGG16': 'caffe'}
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def conv_bn(x, filters: int, kernel: int = 3, activation: Optional[str] = 'relu',
            separable: bool = False, dilation: int = 1):
  conv = layers.SeparableConv2D if separable else layers.Conv2D
  x = conv(filters, kernel, padding='same', dilation_rate=dilation, use_bias=False)(x)
  x = layers.BatchNormalization()(x)
  return layers.Activation(activation)(x) if activation else x


def encoder(application: Callable[..., keras.Model], outputs: Sequence[str],
            weights: Optional[str]) -> keras.Model:
  """A keras.applications backbone cut at `outputs`, as one nested model named ENCODER;
  its `preprocessing` says what input its pretrained weights expect (PREPROCESSING).

  `weights`: None for random initialisation; IMAGENET for Keras' published weights, which
  Keras downloads once into its cache (~/.keras/models) and reads from there afterwards;
  or a local weights file.
  """
  try:
    base = application(input_shape=(None, None, 3), include_top=False, weights=weights)
  except Exception as e:  # pylint: disable=broad-except
    fetch = re.search(r'URL fetch failure on (\S+): ', str(e))
    if weights != IMAGENET or not fetch:
      raise
    raise errors.ConfigError(
        f'encoder_weights {IMAGENET!r}: Keras could not download '
        f'{posixpath.basename(fetch.group(1))} ({str(e)[fetch.end():].strip()[:80]}); '
        f'offline, put that file in {keras_cache()} and run again') from None
  model = keras.Model(base.input, [base.get_layer(name).output for name in outputs],
                      name=ENCODER)
  model.preprocessing = PREPROCESSING[application.__name__]
  return model


def keras_cache() -> str:
  """Where keras.utils.get_file keeps what keras.applications download (tf-keras 2.16):
  ~/.keras/models, or /tmp/.keras/models where ~/.keras is not a folder it can write."""
  base = os.path.join(os.path.expanduser('~'), '.keras')
  return os.path.join(base if os.access(base, os.W_OK) else '/tmp/.keras', 'models')


class ImagenetPreprocessing(layers.Layer):
  """keras.applications' preprocess_input for `mode` (PREPROCESSING), inside the model, so
  that serving keeps taking raw 0..255 RGB images."""

  def __init__(self, mode: str, **kwargs):
    super().__init__(**kwargs)
    self.mode = mode

  def call(self, x):
    if self.mode == 'tf':
      return x / 127.5 - 1.0
    return x[..., ::-1] - tf.constant(_CAFFE_MEAN_BGR, x.dtype)

  def get_config(self):
    return {**super().get_config(), 'mode': self.mode}


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
