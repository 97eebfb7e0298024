"""The Transform component's preprocessing_fn: decode, resize, analyze.

Images are resized with antialiased bilinear filtering (area-like when shrinking), masks
with nearest neighbour, since interpolating class ids would invent classes. Both stay
uint8. TFT analyzers take one full pass over the training split for the per-channel mean
and standard deviation (normalisation, applied inside the model) and the per-class pixel
counts (median-frequency class weights).
"""
from typing import Any, Dict, Tuple

import tensorflow as tf
import tensorflow_transform as tft

from petseg.core import features


def _resize_image(encoded: tf.Tensor, size: Tuple[int, int]) -> tf.Tensor:
  image = features.decode_image(encoded)
  resized = tf.image.resize(image, size, method='bilinear', antialias=True)
  return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def _resize_mask(encoded: tf.Tensor, size: Tuple[int, int]) -> tf.Tensor:
  mask = tf.io.decode_png(encoded, channels=1)
  return tf.image.resize(mask, size, method='nearest')[..., 0]


def _per_example(value: tf.Tensor, batch_like: tf.Tensor) -> tf.Tensor:
  """An analyzer's result repeated for each example of the batch."""
  return tf.tile(value[tf.newaxis], [tf.shape(batch_like)[0], 1])


def preprocessing_fn(inputs: Dict[str, tf.Tensor], custom_config: Dict[str, Any]):
  """TFX's Transform calls this by name (pipeline.PREPROCESSING_FN) with a batch of raw
  features; custom_config holds `image_size` ([height, width]) and `num_classes`."""
  size, num_classes = tuple(custom_config['image_size']), custom_config['num_classes']
  encoded_images = tf.reshape(inputs['image'], [-1])
  images = tf.map_fn(lambda e: _resize_image(e, size), encoded_images,
                     fn_output_signature=tf.TensorSpec([*size, 3], tf.uint8))
  masks = tf.map_fn(lambda e: _resize_mask(e, size), tf.reshape(inputs['mask'], [-1]),
                    fn_output_signature=tf.TensorSpec(size, tf.uint8))

  # Every image has the same size here, so the mean of per-image means is the pixel mean.
  pixels = tf.cast(images, tf.float32)
  mean = tft.mean(tf.reduce_mean(pixels, axis=[1, 2]), reduce_instance_dims=False)
  mean_square = tft.mean(tf.reduce_mean(tf.square(pixels), axis=[1, 2]),
                         reduce_instance_dims=False)
  std = tf.sqrt(tf.maximum(mean_square - tf.square(mean), 1e-6))

  # Class ids >= num_classes (the ignore id) fall outside bincount's range and are not counted.
  counts = tf.math.bincount(tf.reshape(tf.cast(masks, tf.int32), [tf.shape(masks)[0], -1]),
                            minlength=num_classes, maxlength=num_classes, axis=-1,
                            dtype=tf.int64)
  labelled = tf.reduce_sum(counts, axis=1, keepdims=True)
  class_pixels = tft.sum(counts, reduce_instance_dims=False)
  class_image_pixels = tft.sum(tf.where(counts > 0, labelled, 0), reduce_instance_dims=False)

  serialize = lambda batch: tf.map_fn(tf.io.serialize_tensor, batch,  # noqa: E731
                                      fn_output_signature=tf.string)
  return {
      features.IMAGE: serialize(images),
      features.MASK: serialize(masks),
      # Derived from the images alone, so that serving (which has no masks) keeps them.
      features.IMAGE_MEAN: _per_example(mean, encoded_images),
      features.IMAGE_STD: _per_example(std, encoded_images),
      features.CLASS_PIXELS: _per_example(class_pixels, masks),
      features.CLASS_IMAGE_PIXELS: _per_example(class_image_pixels, masks),
  }
