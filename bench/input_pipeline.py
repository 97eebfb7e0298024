"""Input pipeline throughput: the Trainer's tf.data pipeline against the keras-io seed's.

The seed (keras.io Oxford Pets example) feeds Keras from a keras.utils.Sequence that
opens and resizes every JPEG and trimap with PIL at 160x160 on every epoch. Ours reads
the transformed records (decoded and resized once, by Transform), caches them, and
augments in parallel. Both are timed over the same number of images; ours after its first
pass has filled the cache (what every later epoch costs), and its first pass is reported too.

  python bench/input_pipeline.py [--images 3000]
"""
import argparse
import os
import time

import numpy as np
import tf_keras as keras

import common
from petseg.models import input_pipeline
from petseg.models import training

SIZE, BATCH = 160, 32


class OxfordPets(keras.utils.Sequence):
  """The keras-io example's loader, as published (it shifts trimaps 1..3 to 0..2)."""

  def __init__(self, batch_size, img_size, input_img_paths, target_img_paths):
    self.batch_size, self.img_size = batch_size, img_size
    self.input_img_paths, self.target_img_paths = input_img_paths, target_img_paths

  def __len__(self):
    return len(self.target_img_paths) // self.batch_size

  def __getitem__(self, idx):
    i = idx * self.batch_size
    x = np.zeros((self.batch_size,) + self.img_size + (3,), dtype='float32')
    for j, path in enumerate(self.input_img_paths[i:i + self.batch_size]):
      x[j] = keras.utils.load_img(path, target_size=self.img_size)
    y = np.zeros((self.batch_size,) + self.img_size + (1,), dtype='uint8')
    for j, path in enumerate(self.target_img_paths[i:i + self.batch_size]):
      y[j] = np.expand_dims(keras.utils.load_img(path, target_size=self.img_size,
                                                 color_mode='grayscale'), 2)
      y[j] -= 1
    return x, y


def seed_images_per_second(n_images):
  data = os.path.abspath(common.OXFORD_SAMPLE)
  names = sorted(f[:-4] for f in os.listdir(os.path.join(data, 'images')) if f.endswith('.jpg'))
  loader = OxfordPets(BATCH, (SIZE, SIZE), [os.path.join(data, 'images', n + '.jpg') for n in names],
                      [os.path.join(data, 'annotations', 'trimaps', n + '.png') for n in names])
  seen, start = 0, time.perf_counter()
  while seen < n_images:
    for idx in range(len(loader)):
      loader[idx]
      seen += BATCH
      if seen >= n_images:
        break
  return seen / (time.perf_counter() - start)


def ours_images_per_second(train_files, n_images):
  config = training.TrainingConfig(image_size=SIZE, batch_size=BATCH)
  batches = iter(input_pipeline.dataset(train_files, config, BATCH, training_split=True))
  n_train = input_pipeline.count(train_files)
  start = time.perf_counter()
  for _ in range(-(-n_train // BATCH)):  # The first pass parses and fills the cache.
    next(batches)
  first_pass = n_train / (time.perf_counter() - start)
  start = time.perf_counter()
  for _ in range(n_images // BATCH):
    next(batches)
  return (n_images // BATCH) * BATCH / (time.perf_counter() - start), first_pass


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--images', type=int, default=3000)
  args = parser.parse_args()
  train_files, _ = common.transformed_oxford(SIZE)
  ours, first_pass = ours_images_per_second(train_files, args.images)
  seed = seed_images_per_second(min(args.images, 1200))
  common.report({'bench': 'input_pipeline', 'image_size': SIZE, 'batch_size': BATCH,
                 'ours_img_s': round(ours, 1), 'ours_first_pass_img_s': round(first_pass, 1),
                 'baseline_img_s': round(seed, 1), 'ratio': round(ours / seed, 2)})


if __name__ == '__main__':
  main()
