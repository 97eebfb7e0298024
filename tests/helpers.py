"""Helpers shared by the tests: image writers, record counts, the real data in
../shared/data, and the demo's training flags. Fixtures are in conftest.py."""
import dataclasses
import io
import os
import pathlib
import shutil
from typing import List, Tuple

import numpy as np
from PIL import Image
import pytest

import petseg  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf  # pylint: disable=g-bad-import-order

from petseg.models import input_pipeline

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'data'


def shared_data(name: str) -> pathlib.Path:
  """A folder of ../shared/data, or a skip saying where it was looked for."""
  path = SHARED_DATA / name
  if not path.is_dir():
    pytest.skip(f'real data not available: {path} is absent (it is beside the repo in CI; '
                'a fresh clone elsewhere has no ../shared/data)')
  return path


def write_image(path, array, fmt=None, **save_args) -> str:
  """Saves a uint8/uint16 array (or a PIL image) under `path`, making its folder."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  img = array if isinstance(array, Image.Image) else Image.fromarray(np.asarray(array))
  img.save(path, format=fmt, **save_args)
  return str(path)


def rgb(height=12, width=16, seed=0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def trimap(height=12, width=16) -> np.ndarray:
  """A valid Oxford trimap: background, a pet in the middle, a border band around it."""
  t = np.full((height, width), 2, np.uint8)
  t[2:-2, 3:-3] = 3
  t[3:-3, 4:-4] = 1
  return t


def continuation(trained_root: pathlib.Path,
                 work: pathlib.Path) -> Tuple[pathlib.Path, List[str]]:
  """An output directory, work/out, that continues the shared trained run (conftest.py)
  without changing what it holds, and the `petseg run` flags that use it. Copied: its ML
  Metadata, whose records point at the trained run's artifacts (so the cache finds them),
  and its release registry. Shared: its pipeline root, where new artifacts go in folders of
  their own (the Trainer's cache key holds its resume folder, under that root)."""
  from petseg.pipeline import local_runner  # pylint: disable=g-import-not-at-top
  out = work / 'out'
  out.mkdir(parents=True)
  shutil.copy2(local_runner.metadata_path(str(trained_root / 'out')), out)
  shutil.copytree(trained_root / 'out' / 'serving', out / 'serving')
  return out, ['--output-dir', str(out), '--pipeline-root',
               local_runner.default_pipeline_root(str(trained_root / 'out'))]


def trained_output(store, node: str, key: str) -> str:
  """The URI of the trained run's (conftest.py) output `key` of step `node`."""
  from petseg.pipeline import metadata  # pylint: disable=g-import-not-at-top
  # The newest: ExampleGen and LatestRelease also ran in the check before the run
  # (local_runner.run_unless_nothing_new), whose outputs the run then took from the cache.
  execution = metadata.executions(store, 'petseg', node)[-1]
  return metadata.output_artifacts(store, execution.id, key)[0].uri


# The demo's training settings: 64 generated pets, unet_xception at 96x96.
TRAINING_FLAGS = ['--image-size', '96', '--batch-size', '8', '--learning-rate', '0.002',
                  '--epochs', '30']
# One short epoch at 32 pixels: a whole run that tests the steps, not the learning.
QUICK = ['--epochs', '1', '--image-size', '32', '--batch-size', '4']


def encode(array_or_image, fmt, **save_args) -> bytes:
  """An array (or a PIL image) encoded as `fmt` (PNG, JPEG, ...)."""
  out = io.BytesIO()
  img = (array_or_image if isinstance(array_or_image, Image.Image)
         else Image.fromarray(np.asarray(array_or_image)))
  img.save(out, format=fmt, **save_args)
  return out.getvalue()


def split_files(examples_uri: str, split: str):
  """The file pattern of one split of an Examples artifact."""
  return [input_pipeline.split_pattern(examples_uri, split)]


def count_records(examples_uri: str, split: str) -> int:
  return input_pipeline.count(split_files(examples_uri, split))


def read_records(examples_uri: str, split: str):
  return [tf.train.Example.FromString(r.numpy())
          for r in input_pipeline.records(split_files(examples_uri, split))]


def _around(value: float):
  return (value - 0.05, value + 0.05)


def slice_scores(mean_iou: float, per_class: dict, images: int):
  """A slice's run_summary.Scores on `images` test images that all hold every class, each
  figure with an interval 0.05 either side."""
  from petseg.records import summary as run_summary  # pylint: disable=g-import-not-at-top
  return run_summary.Scores(
      mean_iou=mean_iou, per_class_iou=per_class, pixel_accuracy=0.9,
      confusion_matrix=[[9, 1, 0], [1, 9, 0], [0, 1, 9]],
      intervals=run_summary.Intervals(
          mean_iou=_around(mean_iou),
          per_class_iou={n: _around(v) for n, v in per_class.items()},
          pixel_accuracy=_around(0.9)),
      images=images, class_images={n: images for n in per_class})


def run_summary_of(**changes):
  """A records.summary.RunSummary as a trained Oxford Pets run makes one (border IoU
  0.38, a first release); `changes` replace fields."""
  from petseg.records import summary as run_summary  # pylint: disable=g-import-not-at-top
  from petseg.core import comparison as comparison_lib  # pylint: disable=g-import-not-at-top
  from petseg.core import labels as labels_lib  # pylint: disable=g-import-not-at-top
  from petseg.models import training  # pylint: disable=g-import-not-at-top
  per_class = {'pet': 0.7, 'background': 0.83, 'border': 0.38}
  return dataclasses.replace(run_summary.RunSummary(
      pipeline='petseg', pipeline_run='run-1', created='2026-11-22T06:00:00+00:00',
      model='unet_xception', model_path='/out/Trainer/model/7/Format-Serving',
      training=training.TrainingConfig(num_classes=3), training_history='h.csv',
      class_names=list(per_class), labels=labels_lib.oxford_trimap_labels(), data={
          'train': run_summary.SplitCounts(240, 1), 'eval': run_summary.SplitCounts(60, 0),
          'test': run_summary.SplitCounts(300, 0)},
      data_fingerprint='d' * 64, config_fingerprint='c' * 64, ingest_report='ingest.json',
      test_examples='Split-test/*', test=slice_scores(0.637, per_class, 300),
      slices={'species=cat': slice_scores(0.6, per_class, 100),
              'species=dog': slice_scores(0.66, per_class, 200)},
      baseline=None, comparison=None, blessed=True, reasons=[],
      gate=run_summary.Gate(min_mean_iou=0.4, min_class_iou={}, max_mean_iou_drop=None,
                            max_slice_drop=None, max_class_drop={}, min_slice_images=40),
      serving_dir='/serving', evaluation='/out/Evaluator/evaluation/9',
      sensitivity=comparison_lib.Sensitivity(300, 40, 0.05), dataset='oxford_pets',
      rejected_by_reason={'truncated': 1}), **changes)
