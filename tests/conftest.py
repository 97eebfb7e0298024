"""Shared fixtures: generated datasets, image writers, and the real data in ../shared/data."""
import os
import pathlib

import numpy as np
from PIL import Image
import pytest

import petseg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from petseg import sample_data

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


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
  """One seeded run of the whole pipeline (~100 s): (root, ML Metadata store). The data is
  root/data, the run's output root/out. Tests that run the pipeline again in root/out
  read the first run's executions, not the latest."""
  from petseg import cli  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import metadata  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('trained')
  sample_data.make_sample_data(str(root / 'data'), num_images=64)
  assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(root / 'data'),
                   '--output-dir', str(root / 'out'), *TRAINING_FLAGS]) == 0
  return root, metadata.connect(local_runner.metadata_path(str(root / 'out')))


@pytest.fixture(scope='session')
def sample_dir(tmp_path_factory) -> pathlib.Path:
  """36 generated pets in the Oxford layout (27 trainval, 9 test), shared by the tests."""
  path = tmp_path_factory.mktemp('sample')
  sample_data.make_sample_data(str(path), num_images=36, seed=7, min_size=64, max_size=96)
  return path
