"""Names of the transformed features, and turning transformed records back into tensors.

Transformed records stay compact: images and masks are serialized uint8 tensors at the
training size. The statistics that TFT's analyzers compute over the training split ride
along in every record (a few dozen numbers), where the Trainer reads them once.
"""
from typing import Tuple

import tensorflow as tf

IMAGE = 'image'  # serialized uint8 [h, w, 3], the training config's image size
MASK = 'mask'  # serialized uint8 [h, w]: class ids, 255 ignored
IMAGE_MEAN = 'image_mean'  # float [3]: per-channel mean over the training split
IMAGE_STD = 'image_std'  # float [3]
CLASS_PIXELS = 'class_pixels'  # int [C]: pixels of each class in the training split
CLASS_IMAGE_PIXELS = 'class_image_pixels'  # int [C]: pixels of the images holding the class
FILE_NAME = 'file_name'  # a raw record's image file name: names each test image's score
# The exported model's outputs. The ground truth has a name of its own because evaluation
# looks keys up among the raw features too, where `mask` is the encoded PNG.
CLASS_IDS = 'class_ids'  # predicted class ids [B, H, W]
TRUE_CLASS_IDS = 'true_class_ids'  # the transformed mask's class ids [B, h, w]


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
  """JPEG/PNG/GIF/BMP bytes -> uint8 [H, W, 3]: the one decoder of raw images, used by
  Transform, by serving and by ingestion to refuse what it could not decode later."""
  return tf.io.decode_image(encoded, channels=3, expand_animations=False)


def parse_image(serialized: tf.Tensor, image_size: Tuple[int, int]) -> tf.Tensor:
  image = tf.io.parse_tensor(serialized, tf.uint8)
  return tf.ensure_shape(image, [*image_size, 3])


def parse_mask(serialized: tf.Tensor, image_size: Tuple[int, int]) -> tf.Tensor:
  mask = tf.io.parse_tensor(serialized, tf.uint8)
  return tf.ensure_shape(mask, image_size)


def parse_images(serialized: tf.Tensor, image_size: Tuple[int, int]) -> tf.Tensor:
  """A batch of serialized images -> float32 [B, h, w, 3] in 0..255."""
  images = tf.map_fn(lambda s: parse_image(s, image_size), serialized,
                     fn_output_signature=tf.TensorSpec([*image_size, 3], tf.uint8))
  return tf.cast(images, tf.float32)
