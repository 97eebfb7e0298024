"""A depthwise-separable residual FCN: five residual stages, each three separable 3x3
convolutions with ELU plus a separable 1x1 shortcut, then max pooling; an FCN-8s head
(conv6/conv7 of configurable width) fuses conv7, pool4 and pool3. Output stride 32.
"""
import tf_keras as keras
from tf_keras import layers

from petseg.models import blocks

_STAGE_FILTERS = (32, 64, 128, 256, 512)


def _residual_stage(x, filters: int):
  shortcut = blocks.conv_bn(x, filters, kernel=1, activation=None, separable=True)
  y = blocks.conv_bn(x, filters, activation='elu', separable=True)
  y = blocks.conv_bn(y, filters, activation='elu', separable=True)
  y = blocks.conv_bn(y, filters, activation=None, separable=True)
  x = layers.Activation('elu')(layers.add([y, shortcut]))
  return layers.MaxPooling2D(2)(x)


def build(num_classes: int, head_width: int = 512, dropout: float = 0.3) -> keras.Model:
  inputs = keras.Input((None, None, 3))
  x, pools = inputs, []
  for filters in _STAGE_FILTERS:
    x = _residual_stage(x, filters)
    pools.append(x)
  pool3, pool4 = pools[2], pools[3]
  x = blocks.conv_bn(x, head_width, kernel=7, activation='elu', separable=True)  # conv6
  x = layers.Dropout(dropout)(x)
  x = blocks.conv_bn(x, head_width, kernel=1, activation='elu')  # conv7
  x = layers.Dropout(dropout)(x)
  x = layers.Conv2D(num_classes, 1)(x)
  for skip in (pool4, pool3):
    x = layers.Conv2DTranspose(num_classes, 4, strides=2, padding='same')(x)
    x = layers.add([x, layers.Conv2D(num_classes, 1)(skip)])
  outputs = layers.Conv2DTranspose(num_classes, 16, strides=8, padding='same',
                                   dtype='float32')(x)
  return keras.Model(inputs, outputs, name='sep_resnet_fcn')
