"""Helpers shared by the tests: image writers, record counts, the real data in
../shared/data, and the demo's training flags. Fixtures are in conftest.py."""
import io
import os
import pathlib

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


# The demo's training settings: 64 generated pets, unet_xception at 96x96.
TRAINING_FLAGS = ['--image-size', '96', '--batch-size', '8', '--learning-rate', '0.002',
                  '--epochs', '30']


def encode(array_or_image, fmt, **save_args) -> bytes:
  """An array (or a PIL image) encoded as `fmt` (PNG, JPEG, ...)."""
  out = io.BytesIO()
  img = (array_or_image if isinstance(array_or_image, Image.Image)
         else Image.fromarray(np.asarray(array_or_image)))
  img.save(out, format=fmt, **save_args)
  return out.getvalue()


def split_files(examples_uri: str, split: str):
  """The file pattern of one split of an Examples artifact."""
  return [os.path.join(examples_uri, f'Split-{split}', '*')]


def count_records(examples_uri: str, split: str) -> int:
  return input_pipeline.count(split_files(examples_uri, split))


def read_records(examples_uri: str, split: str):
  return [tf.train.Example.FromString(r.numpy())
          for r in input_pipeline.records(split_files(examples_uri, split))]
