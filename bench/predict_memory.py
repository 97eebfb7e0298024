"""`petseg predict` on one large photo: memory per input pixel above the loaded model, and
time, against the exported model's serving_default signature (what predict called
before), which resizes float probabilities to the image's full size before the argmax.

Each side runs in processes of its own, one per image, and predicts from loading the
model to writing the mask and overlay; a process reports the peak of its resident memory
during that (sampled every 5 ms) above what it held before. What the pixels cost is the
photo's peak less the peak of the same side predicting a 64x64 image (the model loaded
and run, the same graph traced), per pixel of the photo. The masks must be identical:
predict's argmax of its banded resize against serving_default's. The model is the
benchmarks' shared one (the Oxford sample, one epoch at 160x160): its quality does not
matter here, its size does.

  python bench/predict_memory.py [--side 6000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from PIL import Image

import common


class _PeakMemory:
  """The highest resident memory, sampled every few milliseconds while in the block, above
  what the process held when the block began."""

  def __enter__(self):
    self._stop, self.start_mb = threading.Event(), self._current_mb()
    self.peak_mb = self.start_mb
    self._thread = threading.Thread(target=self._sample)
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.above_mb = self.peak_mb - self.start_mb

  @staticmethod
  def _current_mb() -> float:
    with open('/proc/self/statm') as f:
      return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20

  def _sample(self):
    while not self._stop.wait(0.005):
      self.peak_mb = max(self.peak_mb, self._current_mb())


def _child(mode: str, model_dir: str, image_path: str, output_dir: str) -> None:
  """Predicts one image as `mode` does, from loading the model to writing the overlay."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from petseg.core import overlay  # pylint: disable=g-import-not-at-top
  from petseg import released_model  # pylint: disable=g-import-not-at-top
  from petseg.models import export  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  with _PeakMemory() as memory:
    if mode == 'ours':
      result = released_model.predict(model_dir, [image_path], output_dir, max_pixels=10**9)
      assert len(result.written) == 1, result
    else:
      labels = export.load_labels(model_dir)
      colours = overlay.class_colours(labels)
      serve = tf.saved_model.load(model_dir).signatures['serving_default']
      with open(image_path, 'rb') as f:
        data = f.read()
      class_ids = serve(images=tf.constant([data]))['class_ids'][0].numpy()
      image = Image.open(image_path)
      Image.fromarray(class_ids).save(os.path.join(output_dir, 'photo_mask.png'))
      below = overlay.legend(image.width, labels.class_names, colours)  # as predict did
      picture = Image.new('RGB', (image.width, image.height + below.height))
      picture.paste(overlay.overlay(image, class_ids, colours))
      picture.paste(below, (0, image.height))
      picture.save(os.path.join(output_dir, 'photo_overlay.png'))
  print(json.dumps({'peak_mb_above_start': memory.above_mb,
                    'seconds': time.perf_counter() - start}))


def _photo(path: str, side: int) -> None:
  """A smooth, photo-like JPEG (compresses as photos do)."""
  rng = np.random.default_rng(0)
  small = rng.integers(0, 256, (side // 100, side // 100, 3), dtype=np.uint8)
  Image.fromarray(small).resize((side, side), Image.BICUBIC).save(path, quality=90)


def _measure(mode: str, model_dir: str, image: str) -> dict:
  with tempfile.TemporaryDirectory() as out:
    printed = subprocess.run(
        [sys.executable, __file__, '--child', mode, model_dir, image, out],
        check=True, capture_output=True, text=True).stdout
    mask = np.asarray(Image.open(os.path.join(out, 'photo_mask.png')))
  return {**json.loads(printed.strip().splitlines()[-1]), 'mask': mask}


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--side', type=int, default=6000)
  parser.add_argument('--child', nargs=4)
  args = parser.parse_args()
  if args.child:
    _child(*args.child)
    return
  model_dir = common.trained_oxford_model(160)
  results = {}
  with tempfile.TemporaryDirectory() as tmp:
    for side in (64, args.side):
      image = os.path.join(tmp, f'{side}', 'photo.jpg')
      os.makedirs(os.path.dirname(image))
      _photo(image, side)
      results[side] = {mode: _measure(mode, model_dir, image) for mode in ('baseline', 'ours')}
  photo, small = results[args.side], results[64]
  identical = bool(np.array_equal(photo['baseline']['mask'], photo['ours']['mask']))
  pixels = args.side ** 2
  per_pixel = {mode: round((photo[mode]['peak_mb_above_start'] -
                            small[mode]['peak_mb_above_start']) * 2**20 / pixels, 2)
               for mode in ('ours', 'baseline')}
  seconds = {mode: round(photo[mode]['seconds'], 1) for mode in ('ours', 'baseline')}
  print(f'{args.side}x{args.side} photo: bytes per pixel {per_pixel}, seconds {seconds}, '
        f'masks identical: {identical}', file=sys.stderr)
  common.report({'bench': 'predict_bytes_per_pixel', 'side': args.side,
                 'ours': per_pixel['ours'], 'baseline': per_pixel['baseline'],
                 'ratio': round(per_pixel['ours'] / per_pixel['baseline'], 3),
                 'peak_mb_above_start': {
                     mode: {'photo': round(photo[mode]['peak_mb_above_start']),
                            '64x64': round(small[mode]['peak_mb_above_start'])}
                     for mode in ('ours', 'baseline')},
                 'seconds': seconds, 'masks_identical': identical})


if __name__ == '__main__':
  main()
