"""Shared fixtures: generated datasets and one trained pipeline run (helpers.py has the
helper functions)."""
import contextlib
import dataclasses
import io
import os
import pathlib
import sys
from typing import Dict, List

import pytest

import petseg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from petseg import sample_data
from tests.helpers import QUICK, TRAINING_FLAGS


def pytest_configure(config):
  """Tests that train or export a model themselves do as the Trainer does: Keras 2 is
  traced as written (models/module_file.keras_as_written)."""
  del config
  from petseg.models import module_file  # pylint: disable=g-import-not-at-top
  module_file.keras_as_written()


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
  """One seeded run of the whole pipeline (~80 s): (root, ML Metadata store). The data is
  root/data, the run's output root/out. Tests only read it: one that runs the pipeline
  again does so in a continuation of it (helpers.continuation)."""
  from petseg import cli  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import metadata  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('trained')
  sample_data.make_sample_data(str(root / 'data'), num_images=64)
  assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(root / 'data'),
                   '--output-dir', str(root / 'out'), *TRAINING_FLAGS]) == 0
  return root, metadata.connect(local_runner.metadata_path(str(root / 'out')))


@dataclasses.dataclass(frozen=True)
class QuickRun:
  """`petseg run --dataset oxford_pets` on the sample with QUICK training, twice in one
  output directory: what each run printed and its steps' final states (node id -> state)."""
  data: pathlib.Path
  out: pathlib.Path
  printed: List[str]
  states: List[Dict[str, int]]


@pytest.fixture(scope='session')
def quick_run(tmp_path_factory, sample_dir) -> QuickRun:
  """The whole pipeline on the sample with one short epoch (~40 s), then again with nothing
  changed (from the cache). Tests only read it."""
  from petseg import cli  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import metadata  # pylint: disable=g-import-not-at-top
  out = tmp_path_factory.mktemp('quick') / 'out'
  printed, states = [], []
  for _ in range(2):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
      assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(sample_dir),
                       '--output-dir', str(out), *QUICK]) == 0
    printed.append(stdout.getvalue())
    store = metadata.connect(local_runner.metadata_path(str(out)))
    states.append({node: e.last_known_state
                   for node, e in metadata.run_executions(store, 'petseg').items()})
  return QuickRun(sample_dir, out, printed, states)


@pytest.fixture(scope='session')
def sample_dir(tmp_path_factory) -> pathlib.Path:
  """36 generated pets in the Oxford layout (27 trainval, 9 test), shared by the tests."""
  path = tmp_path_factory.mktemp('sample')
  sample_data.make_sample_data(str(path), num_images=36, seed=7, min_size=64, max_size=96)
  return path


@pytest.fixture(scope='session')
def image(tmp_path_factory):
  """The Kubeflow steps' image: kubeflow/Dockerfile replayed without a Docker daemon
  (tests/image_replay.py; ~20 s). Tests only read it."""
  from tests import image_replay  # pylint: disable=g-import-not-at-top
  root = pathlib.Path(__file__).resolve().parents[1]
  return image_replay.replay(str(root / 'kubeflow' / 'Dockerfile'), str(root),
                             str(tmp_path_factory.mktemp('image')))


@pytest.fixture(scope='session')
def s3():
  """A real S3 API server on localhost (tests/s3_server.py): (its environment, a boto3
  client)."""
  from tests import s3_server  # pylint: disable=g-import-not-at-top
  with s3_server.serve() as env:
    yield env, s3_server.client(env)


# Tests that share an expensive session fixture run in one xdist worker, so that it is made
# once; the rest are grouped by module (module fixtures are made once too). The longest
# groups are handed out first, so that scripts/test.sh's two workers end together.
_SHARED_RUNS = ('trained', 'quick_run', 'image')
_LONGEST_FIRST = ('image', 'trained', 'quick_run', 'test_faults',
                  'test_object_store_e2e')


def _group(item) -> str:
  shared = [name for name in _SHARED_RUNS if name in item.fixturenames]
  return shared[0] if shared else item.module.__name__.rsplit('.', 1)[-1]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
  del config
  for item in items:
    item.add_marker(pytest.mark.xdist_group(_group(item)))
  rank = {group: i for i, group in enumerate(_LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(_group(item), len(rank)))  # stable: order kept


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
