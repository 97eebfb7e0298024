"""Shared fixtures: generated datasets and one trained pipeline run (helpers.py has the
helper functions)."""
import os
import pathlib
import sys

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


@pytest.fixture(scope='session')
def s3():
  """A real S3 API server on localhost (tests/s3_server.py): (its environment, a boto3
  client)."""
  from tests import s3_server  # pylint: disable=g-import-not-at-top
  with s3_server.serve() as env:
    yield env, s3_server.client(env)


def pytest_unconfigure(config):
  """A process that used tensorflow-io's S3 file system aborts at exit after its work
  (core/storage.py); end this one, after pytest's summary, with pytest's own status."""
  del config
  if 'tensorflow_io' in sys.modules:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS[0])  # pylint: disable=protected-access


_EXIT_STATUS = [0]


def pytest_sessionfinish(session, exitstatus):
  del session
  _EXIT_STATUS[0] = int(exitstatus)
