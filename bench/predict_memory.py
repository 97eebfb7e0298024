"""`petseg predict` on one large photo: peak memory and time, against the exported model's
serving_default signature (what predict called before), which resizes float probabilities
to the image's full size before taking the argmax.

Each side runs in a process of its own and predicts the photo from loading the model to
writing the mask and overlay; it reports the peak of its resident memory during that,
above what it held before (sampled every 5 ms), and the time it took. The model is the benchmarks' shared one (the Oxford
sample, one epoch at 160x160): its quality does not matter here, its size does.

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
      assert len(result['written']) == 1, result
    else:
      labels = export.load_labels(model_dir)
      colours = overlay.class_colours(labels)
      serve = tf.saved_model.load(model_dir).signatures['serving_default']
      with open(image_path, 'rb') as f:
        data = f.read()
      class_ids = serve(images=tf.constant([data]))['class_ids'][0].numpy()
      image = Image.open(image_path)
      Image.fromarray(class_ids).save(os.path.join(output_dir, 'photo_mask.png'))
      overlay.with_legend(overlay.overlay(image, class_ids, colours), labels.class_names,
                          colours).save(os.path.join(output_dir, 'photo_overlay.png'))
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
  with tempfile.TemporaryDirectory() as tmp:
    image = os.path.join(tmp, 'photo.jpg')
    _photo(image, args.side)
    baseline, ours = (_measure('baseline', model_dir, image),
                      _measure('ours', model_dir, image))
  agreement = float(np.mean(baseline.pop('mask') == ours.pop('mask')))
  print(f'{args.side}x{args.side} photo: serving_default {baseline}, ours {ours}; '
        f'masks agree on {agreement:.4%} of pixels')
  above = {k: r['peak_mb_above_start'] for k, r in (('ours', ours), ('baseline', baseline))}
  common.report({'bench': 'predict_peak_memory_mb', 'side': args.side,
                 'ours': round(above['ours']), 'baseline': round(above['baseline']),
                 'ratio': round(above['ours'] / above['baseline'], 3),
                 'seconds': {'ours': round(ours['seconds'], 1),
                             'baseline': round(baseline['seconds'], 1)},
                 'mask_agreement': round(agreement, 5)})


if __name__ == '__main__':
  main()
