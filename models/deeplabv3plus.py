"""DeepLabV3+ (Chen et al., 2018): atrous spatial pyramid pooling on an output-stride-16
encoder, and a decoder that fuses the result with stride-4 features.

Encoders: MobileNetV2 (default) or Xception, cut where their features have strides 16 and 4.
"""
from typing import Optional

import tf_keras as keras
from tf_keras import layers

from petseg.models import blocks

_ENCODERS = {
    # name: (application, stride-16 features, stride-4 features)
    'mobilenetv2': (keras.applications.MobileNetV2, 'block_13_expand_relu',
                    'block_3_expand_relu'),
    'xception': (keras.applications.Xception, 'block13_sepconv2_bn', 'block3_sepconv2_bn'),
}


def _aspp(x, rates=(6, 12, 18), filters: int = 256):
  """1x1 conv, three atrous 3x3 convs and image-level pooling, concatenated and fused."""
  pooled = layers.GlobalAveragePooling2D(keepdims=True)(x)
  pooled = blocks.conv_bn(pooled, filters, kernel=1)
  pooled = blocks.resize_to(pooled, x)
  branches = [blocks.conv_bn(x, filters, kernel=1), pooled]
  branches += [blocks.conv_bn(x, filters, dilation=rate) for rate in rates]
  return blocks.conv_bn(layers.Concatenate()(branches), filters, kernel=1)


def build(num_classes: int, backbone: str = 'mobilenetv2',
          encoder_weights: Optional[str] = None) -> keras.Model:
  if backbone not in _ENCODERS:
    raise ValueError(f'deeplabv3plus backbone must be one of {sorted(_ENCODERS)}')
  application, deep_name, shallow_name = _ENCODERS[backbone]
  inputs = keras.Input((None, None, 3))
  deep, shallow = blocks.encoder(application, (deep_name, shallow_name), encoder_weights)(inputs)
  x = blocks.resize_to(_aspp(deep), shallow)
  x = layers.Concatenate()([x, blocks.conv_bn(shallow, 48, kernel=1)])
  x = blocks.conv_bn(x, 256)
  x = blocks.conv_bn(x, 256)
  x = blocks.resize_to(layers.Conv2D(num_classes, 1)(x), inputs)
  outputs = layers.Activation('linear', dtype='float32')(x)
  return keras.Model(inputs, outputs, name=f'deeplabv3plus_{backbone}')
