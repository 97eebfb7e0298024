"""The serving directory as the release registry: numbered versions (TensorFlow Serving's
layout), each with its release record beside the model (the step that finds the newest is
components/latest_release/).

Every pushed version holds `assets.extra/release.json`: what was released, on which data,
with which settings, measured how, and compared against what. The baseline that the
Evaluator compares a new model with is read from here, not from an orchestrator's
metadata, so the same pipeline runs on LocalDagRunner, Vertex AI and open-source Kubeflow
Pipelines (whose backend cannot run TFX's resolver tasks). The registry changes outside
the pipeline: a local run, built anew each time, gives `LatestRelease` the registry's
`state()` as a parameter, so that its cached result (and the evaluation after it) is
reused only while the registry is unchanged; a Kubeflow spec, compiled once, never serves
it from a cache (see pipeline.NEVER_CACHED).
"""
import contextlib
import getpass
import hashlib
import os
import re
import socket
from typing import Callable, Iterator, List, Optional

from google.protobuf import message
from tensorflow.core.protobuf import saved_model_pb2
from tfx.dsl.io import fileio
from tfx.utils import io_utils

from petseg.core import errors
from petseg.core import storage
from petseg.core import text
from petseg.records import model_card
from petseg.records import summary

SAVED_MODEL = 'saved_model.pb'
RECORD_FILE = os.path.join('assets.extra', summary.FILE_NAME)
MODEL_CARD_FILE = os.path.join('assets.extra', 'model_card.html')
REPORT_FILE = os.path.join('assets.extra', 'report.html')  # the run's report


# Beside the versions, in names that are not numbers (servers skip them): the lock, the
# retired versions (RETIRED_DIR/N, kept whole), the decision log (registry/log.py)
# and the page a person opens (registry/page.py).
LOCK_FILE = '.petseg-registry.lock'
RETIRED_DIR = '.retired'
LOG_DIR = '.log'
INDEX_FILE = 'index.html'
OWN_ENTRIES = (LOCK_FILE, RETIRED_DIR, LOG_DIR, INDEX_FILE)
_VERSION_NAME = re.compile(r'[0-9]+')  # ASCII digits only: str.isdigit() takes '²'


def _entries(base_directory: str) -> List[str]:
  if not fileio.exists(base_directory):
    return []
  return sorted(name.rstrip('/') for name in fileio.listdir(base_directory))


def _versions(base_directory: str) -> List[int]:
  """The versions: directories named by ASCII decimal digits; nothing else (a stray file
  named 9 included) counts or changes the numbering."""
  return [int(name) for name in _entries(base_directory)
          if _VERSION_NAME.fullmatch(name)
          and fileio.isdir(os.path.join(base_directory, name))]


def versions(base_directory: str) -> List[int]:
  """The versions a server sees (complete or not), in order."""
  return sorted(_versions(base_directory))


def retired_versions(base_directory: str) -> List[int]:
  """The versions retired by a rollback, kept out of the servers' sight, in order."""
  return sorted(_versions(os.path.join(base_directory, RETIRED_DIR)))


def version_path(base_directory: str, version: int, retired: bool = False) -> str:
  return os.path.join(base_directory, *([RETIRED_DIR] if retired else []), str(version))


def ignored_entries(base_directory: str) -> List[str]:
  """What the serving directory holds besides its versions, its page and petseg's hidden
  files."""
  versions_here = {str(v) for v in _versions(base_directory)}
  return [name for name in _entries(base_directory)
          if name not in versions_here and name != INDEX_FILE and not name.startswith('.')]


def complete_versions(base_directory: str) -> List[int]:
  """The versions a server sees that are complete (their saved_model.pb, written last, is
  there), in order."""
  return [v for v in versions(base_directory)
          if fileio.exists(os.path.join(base_directory, str(v), SAVED_MODEL))]


def newest_release(base_directory: str) -> Optional[int]:
  """The highest complete version, or None."""
  return max(complete_versions(base_directory), default=None)


def state(base_directory: str) -> str:
  """What the newest release is, as a cache key: its version and a digest of its release
  record (its saved_model.pb's size and time where it has none); 'none' when there is
  none."""
  version = newest_release(base_directory)
  if version is None:
    return 'none'
  version_dir = os.path.join(base_directory, str(version))
  record = os.path.join(version_dir, RECORD_FILE)
  if fileio.exists(record):
    with fileio.open(record, 'rb') as f:
      return f'{version}:{hashlib.sha256(f.read()).hexdigest()}'
  stat = fileio.stat(os.path.join(version_dir, SAVED_MODEL))
  return f'{version}:{stat.length}:{stat.mtime_nsec}'


def read_record(version_dir: str) -> Optional[summary.RunSummary]:
  """A version's release record, or None for a model released without one; DataError
  naming the file and saying what to do when it cannot be read."""
  path = os.path.join(version_dir, RECORD_FILE)
  if not fileio.exists(path):
    return None
  try:
    return summary.read_file(path)
  except errors.DataError as e:
    raise errors.DataError(f'{e}; restore it or move the version out of the serving '
                           'directory') from None


def model_problem(version_dir: str) -> Optional[str]:
  """What is wrong with a version's model, said briefly ('incomplete: no saved_model.pb',
  'damaged: saved_model.pb does not parse as a SavedModel'), or None when it parses as a
  SavedModel with a graph."""
  path = os.path.join(version_dir, SAVED_MODEL)
  if not fileio.exists(path):
    return f'incomplete: no {SAVED_MODEL}'
  try:
    with fileio.open(path, 'rb') as f:
      if saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs:
        return None
  except message.DecodeError:
    pass
  return f'damaged: {SAVED_MODEL} does not parse as a SavedModel'


def check_version(version_dir: str) -> None:
  """Raises DataError naming the version and what is wrong unless its saved_model.pb parses
  as a SavedModel with a graph and its release record (if any) reads."""
  if model_problem(version_dir):
    raise errors.DataError(
        f'{version_dir}: {SAVED_MODEL} is damaged (not a SavedModel); restore the version '
        'or move it out of the serving directory, and the newest intact one is used')
  read_record(version_dir)


def who() -> str:
  """user@host of this process ('unknown' for a user with no name, as in some pods), one
  line of text whatever the environment says (text.shown)."""
  try:
    user = getpass.getuser()
  except (KeyError, OSError):
    user = 'unknown'
  return text.shown(f'{user}@{socket.gethostname()}')


@contextlib.contextmanager
def lock(base_directory: str) -> Iterator[None]:
  """Holds the registry's lock (LOCK_FILE) while the registry is changed: a push, a
  rollback, a restore, a decision logged; as its store takes turns (storage.Store.held:
  an flock, an S3 object created only if absent, or, on GCS, none, said in one line)."""
  with storage.of(base_directory).held(os.path.join(base_directory, LOCK_FILE),
                                       f'{who()} (process {os.getpid()})'):
    yield


def failure_reason(error: Exception) -> str:
  """An OSError's or TensorFlow error's reason, without its traceback or paths."""
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  text = getattr(error, 'message', None) or str(error)
  return re.split(r'[:;] ', text)[-1]  # TensorFlow's: "PATH; REASON" or "PATH: REASON"


def copy_version(source: str, destination: str,
                 add: Callable[[str], None] = lambda destination: None) -> None:
  """Copies a version's files, then runs add(destination), then copies its saved_model.pb:
  servers and newest_release() take a version as complete only once that file is there."""
  io_utils.copy_dir(source, destination, deny_regex_patterns=[f'/{re.escape(SAVED_MODEL)}$'])
  add(destination)
  io_utils.copy_file(os.path.join(source, SAVED_MODEL), os.path.join(destination, SAVED_MODEL))


def write_record(version_dir: str, record: summary.RunSummary) -> None:
  """Writes a version's release record and its model card (HTML) beside the model."""
  fileio.makedirs(os.path.dirname(os.path.join(version_dir, RECORD_FILE)))
  summary.write_file(record, os.path.join(version_dir, RECORD_FILE))
  with fileio.open(os.path.join(version_dir, MODEL_CARD_FILE), 'w') as f:
    f.write(model_card.page(record))
