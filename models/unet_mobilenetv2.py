"""U-Net with a MobileNetV2 encoder and the pix2pix decoder (TensorFlow's segmentation
tutorial): transposed conv, batch norm, ReLU, concatenated with the encoder's skips.
Output stride 32.
"""
from typing import Optional

import tf_keras as keras
from tf_keras import layers

from petseg.models import blocks

_SKIPS = ('block_1_expand_relu', 'block_3_expand_relu', 'block_6_expand_relu',
          'block_13_expand_relu')


def _upsample(x, filters: int):
  """pix2pix.upsample: 3x3 transposed conv with stride 2, batch norm, ReLU."""
  x = layers.Conv2DTranspose(filters, 3, strides=2, padding='same', use_bias=False)(x)
  x = layers.BatchNormalization()(x)
  return layers.ReLU()(x)


def build(num_classes: int, encoder_weights: Optional[str] = None) -> keras.Model:
  inputs = keras.Input((None, None, 3))
  mobilenet = blocks.encoder(keras.applications.MobileNetV2, _SKIPS + ('block_16_project',),
                             encoder_weights)
  *skips, x = mobilenet(inputs)
  for filters, skip in zip((512, 256, 128, 64), reversed(skips)):
    x = layers.Concatenate()([_upsample(x, filters), skip])
  outputs = layers.Conv2DTranspose(num_classes, 3, strides=2, padding='same',
                                   dtype='float32')(x)
  return keras.Model(inputs, outputs, name='unet_mobilenetv2')
