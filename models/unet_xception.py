"""The residual, depthwise-separable U-Net of the keras-io Oxford Pets example.

Reference: keras.io/examples/vision/oxford_pets_image_segmentation (2.06 M parameters at
160x160 with 3 classes). Output stride 16; logits instead of a softmax.
"""
import tf_keras as keras
from tf_keras import layers


def _twice_relu_conv_bn(x, conv, filters: int):
  for _ in range(2):
    x = layers.Activation('relu')(x)
    x = conv(filters, 3, padding='same')(x)
    x = layers.BatchNormalization()(x)
  return x


def build(num_classes: int) -> keras.Model:
  inputs = keras.Input((None, None, 3))
  x = layers.Conv2D(32, 3, strides=2, padding='same')(inputs)
  x = layers.BatchNormalization()(x)
  x = layers.Activation('relu')(x)
  previous = x

  for filters in (64, 128, 256):  # Downsampling: separable convs, residual 1x1 shortcut.
    x = _twice_relu_conv_bn(x, layers.SeparableConv2D, filters)
    x = layers.MaxPooling2D(3, strides=2, padding='same')(x)
    residual = layers.Conv2D(filters, 1, strides=2, padding='same')(previous)
    x = previous = layers.add([x, residual])

  for filters in (256, 128, 64, 32):  # Upsampling: transposed convs, upsampled shortcut.
    x = _twice_relu_conv_bn(x, layers.Conv2DTranspose, filters)
    x = layers.UpSampling2D(2)(x)
    residual = layers.Conv2D(filters, 1, padding='same')(layers.UpSampling2D(2)(previous))
    x = previous = layers.add([x, residual])

  outputs = layers.Conv2D(num_classes, 3, padding='same', dtype='float32')(x)
  return keras.Model(inputs, outputs, name='unet_xception')
