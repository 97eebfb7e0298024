"""tf.data input from the transformed records: parse once, cache, augment in parallel.

A split is cached in memory when its parsed tensors fit MEMORY_CACHE_BYTES; a larger one
is read again from its records each epoch (they are local or remote files; parsing a
record is a copy), so that the Trainer's memory does not grow with the data.

Augmentation is paired: one random draw decides the flip, zoom and crop of both the image
and its mask (the mask with nearest neighbour); colour jitter touches the image only.
Every random draw is stateless and seeded per element from one seed, so a run is
reproducible however many threads the map uses.
"""
import posixpath
from typing import List, Optional, Tuple

import tensorflow as tf

from petseg.core import features
from petseg.core.labels import IGNORE_ID
from petseg.models import training

AUTOTUNE = tf.data.AUTOTUNE
MEMORY_CACHE_BYTES = 1 << 30
_SPEC = {features.IMAGE: tf.io.FixedLenFeature([], tf.string),
         features.MASK: tf.io.FixedLenFeature([], tf.string)}


def _parse(record: tf.Tensor, image_size: Tuple[int, int]) -> Tuple[tf.Tensor, tf.Tensor]:
  parsed = tf.io.parse_single_example(record, _SPEC)
  return (features.parse_image(parsed[features.IMAGE], image_size),
          features.parse_mask(parsed[features.MASK], image_size))


def augment(image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor,
            config: training.TrainingConfig) -> Tuple[tf.Tensor, tf.Tensor]:
  """uint8 image [h, w, 3] and mask [h, w] -> augmented float image and mask, cropped to
  config.crop: flipped, zoomed by a factor in [min_scale, max_scale], padded (the mask
  with IGNORE_ID) where the zoomed image is smaller than the crop, cropped at random."""
  crop = config.crop
  seeds = tf.random.experimental.stateless_split(seed, 6)
  image = tf.cast(image, tf.float32)
  mask = mask[..., tf.newaxis]
  if config.flip:
    flip = tf.random.stateless_uniform([], seeds[0]) < 0.5
    image = tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)
    mask = tf.cond(flip, lambda: tf.image.flip_left_right(mask), lambda: mask)
  zooms = (config.min_scale, config.max_scale) != (1, 1)
  if zooms:
    scale = tf.random.stateless_uniform([], seeds[1], config.min_scale, config.max_scale)
    scaled = tf.cast(tf.round(scale * tf.constant(config.image_size, tf.float32)), tf.int32)
    image = tf.image.resize(image, scaled, method='bilinear')
    mask = tf.image.resize(mask, scaled, method='nearest')
  if config.min_scale < 1:
    shape = tf.shape(mask)
    pad = [[0, tf.maximum(crop[0] - shape[0], 0)], [0, tf.maximum(crop[1] - shape[1], 0)],
           [0, 0]]
    image = tf.pad(image, pad)
    mask = tf.pad(mask, pad, constant_values=IGNORE_ID)
  if zooms or crop != config.image_size:
    shape = tf.shape(mask)
    offset = tf.random.stateless_uniform([2], seeds[2], 0, tf.int32.max, tf.int32) % (
        shape[:2] - crop + 1)
    image = tf.slice(image, [offset[0], offset[1], 0], [*crop, 3])
    mask = tf.slice(mask, [offset[0], offset[1], 0], [*crop, 1])
  if config.colour_jitter > 0:
    jitter = config.colour_jitter
    image = tf.image.stateless_random_brightness(image, 255 * jitter, seeds[3])
    image = tf.image.stateless_random_contrast(image, 1 - jitter, 1 + jitter, seeds[4])
    image = tf.image.stateless_random_saturation(image, 1 - jitter, 1 + jitter, seeds[5])
    image = tf.clip_by_value(image, 0, 255)
  return tf.ensure_shape(image, [*crop, 3]), tf.ensure_shape(mask[..., 0], crop)


def split_pattern(examples_uri: str, split: str) -> str:
  """The file pattern of one split of an Examples artifact (TFX's Split-NAME folders)."""
  return posixpath.join(examples_uri, f'Split-{split}', '*')


def records(file_patterns: List[str]) -> tf.data.Dataset:
  files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
  return tf.data.TFRecordDataset(files, compression_type='GZIP', num_parallel_reads=AUTOTUNE)


def cached_in_memory(examples: int, image_size: Tuple[int, int]) -> bool:
  """Whether a split of `examples` parsed examples (image and mask) fits the budget."""
  return examples * image_size[0] * image_size[1] * 4 <= MEMORY_CACHE_BYTES


def dataset(file_patterns: List[str], config: training.TrainingConfig, batch_size: int,
            training_split: bool, skip_batches: int = 0,
            examples: Optional[int] = None) -> tf.data.Dataset:
  """(float32 image 0..255 [B, h, w, 3], uint8 mask [B, h, w]) batches of the split's
  `examples` records (None: counted first, one more pass over them).

  The training split repeats forever, shuffled and augmented (crops of config.crop), from
  its `skip_batches`th batch (what a resumed training has done already); others are one
  pass of whole images as they are (config.image_size).
  """
  ds = records(file_patterns).map(lambda r: _parse(r, config.image_size),
                                  num_parallel_calls=AUTOTUNE)
  if cached_in_memory(count(file_patterns) if examples is None else examples,
                      config.image_size):
    ds = ds.cache()
  if training_split:
    ds = ds.repeat().shuffle(1024, seed=config.seed)
    # One seed pair per element, from a seeded stream: reproducible in any thread order.
    seeds = tf.data.Dataset.random(seed=config.seed).batch(2)
    # Skipped before augmenting: the same stream as if it had run, at little cost.
    ds = tf.data.Dataset.zip((ds, seeds)).skip(skip_batches * batch_size).map(
        lambda example, seed: augment(*example, seed, config), num_parallel_calls=AUTOTUNE)
  else:
    ds = ds.map(lambda image, mask: (tf.cast(image, tf.float32), mask))
  return ds.batch(batch_size, drop_remainder=training_split).prefetch(AUTOTUNE)


def count(file_patterns: List[str]) -> int:
  return int(records(file_patterns).reduce(0, lambda n, _: n + 1))
