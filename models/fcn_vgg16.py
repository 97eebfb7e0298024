"""FCN-8s-style decoder on a VGG16 encoder (Long, Shelhamer & Darrell, 2015).

Class scores from block5_pool are upsampled by transposed convolutions and fused by
addition with scores from block5_conv3, block4_conv3 and block3_conv3, then upsampled to
the input size. Output stride 32.
"""
from typing import Optional

import tf_keras as keras
from tf_keras import layers

from petseg.models import blocks

_SKIPS = ('block5_conv3', 'block4_conv3', 'block3_conv3')


def build(num_classes: int, encoder_weights: Optional[str] = None) -> keras.Model:
  inputs = keras.Input((None, None, 3))
  vgg = blocks.encoder(keras.applications.VGG16, ('block5_pool',) + _SKIPS, encoder_weights)
  deepest, *skips = vgg(inputs)
  x = layers.Conv2D(num_classes, 1)(deepest)
  for skip in skips:
    x = layers.Conv2DTranspose(num_classes, 4, strides=2, padding='same')(x)
    x = layers.add([x, layers.Conv2D(num_classes, 1)(skip)])
  outputs = layers.Conv2DTranspose(num_classes, 8, strides=4, padding='same',
                                   dtype='float32')(x)
  return keras.Model(inputs, outputs, name='fcn_vgg16')
