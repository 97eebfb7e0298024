"""Shared fixtures: generated datasets and one trained pipeline run (helpers.py has the
helper functions)."""
import pathlib

import pytest

import petseg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from petseg import sample_data
from tests.helpers import TRAINING_FLAGS


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
