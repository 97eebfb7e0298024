"""Pusher that releases a blessed model as the next numbered version of a TensorFlow Serving
model directory, with its release record, never showing a half-written version.

TFX's Pusher names versions by the Unix time and copies straight into the final directory,
so a server polling the directory can load a version whose files are still arriving. Here
the copy goes to a hidden staging directory (TensorFlow Serving skips names that are not
numbers), gets the run's release record as `assets.extra/release.json`, and is renamed
into place, which is atomic on a local or POSIX file system. On object stores, which have
no directory rename, the copy writes saved_model.pb last, the file servers treat as the
sign that a version is complete.

A model identical to the newest version (the same files) is not released again: re-running
a pipeline re-evaluates the model against itself as the new baseline, blesses it again,
and would otherwise fill the directory with copies.

The version number is the next above every one the registry has used, retired versions
included (release_manager.next_version), and the decision (released, already released,
or not pushed and why) goes to the registry's log.
"""
import datetime
import hashlib
import os
import uuid
from typing import Any, Callable, Dict, List, Optional

from absl import logging
import tensorflow as tf
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx.utils import proto_utils

from petseg.core import errors
from petseg.core import storage
from petseg.records import summary as run_summary
from petseg.registry import log as release_log
from petseg.registry import manager as release_manager
from petseg.registry import versions as release_registry

SUMMARY_KEY = 'summary'


def _digests(directory: str) -> Dict[str, str]:
  """Relative path -> sha256 of every file of the model under `directory` (its release
  record, model card and report aside)."""
  digests = {}
  for root, _, files in fileio.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      if os.path.relpath(path, directory) in (release_registry.RECORD_FILE,
                                              release_registry.MODEL_CARD_FILE,
                                              release_registry.REPORT_FILE):
        continue
      digest = hashlib.sha256()
      with fileio.open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):  # variables can be gigabytes
          digest.update(chunk)
      digests[os.path.relpath(path, directory)] = digest.hexdigest()
  return digests


def _add_record(record: run_summary.RunSummary) -> Callable[[str], None]:
  """What a version gets beside its model: the release record, its model card, and a copy
  of the run's report."""

  def add(destination: str) -> None:
    release_registry.write_record(destination, record)
    if record.report:
      io_utils.copy_file(storage.openable(record.report),
                         os.path.join(destination, release_registry.REPORT_FILE))
  return add


def publish(model_path: str, base_directory: str, summary: run_summary.RunSummary) -> str:
  """Copies the SavedModel at `model_path` to the next version with its release record
  (the run summary, its version and time) and model card, unless the newest version
  already holds the same model; returns the version that serves it. Under the registry's
  lock; refuses (ReleaseError) first when the newest version is no longer the baseline the
  model was compared with, then when there is no room for it. The decision goes to the
  registry's log either way."""
  fileio.makedirs(base_directory)
  with release_registry.lock(base_directory):
    newest = release_registry.newest_release(base_directory)
    try:
      # First: the version served must be the one the model was compared with. Only then
      # is "already released" decided, against that version.
      _check_baseline(newest, summary.baseline, base_directory)
      if newest is not None and _digests(model_path) == _digests(
          os.path.join(base_directory, str(newest))):
        logging.info('%s is already released as version %d', model_path, newest)
        release_manager.log(base_directory, release_log.of_run(
            release_log.ALREADY_RELEASED, summary, version=newest))
        return str(newest)
      version = _push(model_path, base_directory, summary)
    except errors.ReleaseError as e:
      try:
        release_manager.log(base_directory, release_log.of_run(
            release_log.NOT_PUSHED, summary, reasons=[str(e)]))
      except (OSError, tf.errors.OpError) as failed:  # e.g. the disk that refused the push
        logging.warning('The decision could not be logged: %s', failed)
      raise
    release_manager.log(base_directory, release_log.of_run(
        release_log.RELEASED, summary, version=int(version)))
    return version


def _check_baseline(newest: Optional[int], baseline: Optional[run_summary.Baseline],
                    base_directory: str) -> None:
  """No release without the comparison its gate asks for: the newest version must be the
  one the model was evaluated against (none on a first release)."""
  compared = baseline.version if baseline else None
  if newest == compared:
    return
  what = 'nothing (a first release)' if compared is None else f'version {compared}'
  now = ('no version is released there any more' if newest is None else
         f'version {newest} is the newest now')
  raise errors.ReleaseError(
      f'{base_directory}: this model was compared with {what}, but {now} (another run or a '
      'person changed the registry meanwhile); nothing was pushed: re-run, and the model '
      'will be compared with the newest version')


def _push(model_path: str, base_directory: str, summary: run_summary.RunSummary) -> str:
  version = str(release_manager.next_version(base_directory))
  record = summary.released(int(version), datetime.datetime.now(
      datetime.timezone.utc).isoformat(timespec='seconds'))
  final = os.path.join(base_directory, version)
  if not storage.of(base_directory).atomic_rename:
    release_registry.copy_version(model_path, final, _add_record(record))
    return version
  staging = os.path.join(base_directory, f'.staging-{uuid.uuid4().hex}')
  try:
    release_registry.copy_version(model_path, staging, _add_record(record))
    # Fails rather than merging if another push took this version meanwhile.
    os.rename(staging, final)
  except (OSError, tf.errors.OpError) as e:
    raise errors.ReleaseError(
        f'{final}: cannot be written ({release_registry.failure_reason(e)}); the model '
        f'needs {_size(model_path):,} bytes there; nothing was released') from None
  finally:
    if fileio.exists(staging):
      fileio.rmtree(staging)
  return version


def _size(directory: str) -> int:
  return sum(fileio.stat(os.path.join(root, name)).length
             for root, _, files in fileio.walk(directory) for name in files)


class Executor(pusher_executor.Executor):

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    pushed_model = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    # The pipeline runs this component only for a blessed model; checked again here so
    # that no other wiring can release an unblessed one.
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(pushed_model)
      return
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                              destination)
    base_directory = destination.filesystem.base_directory
    model_path = self.GetModelPath(input_dict)
    version = publish(model_path, base_directory, run_summary.read(
        artifact_utils.get_single_instance(input_dict[SUMMARY_KEY]).uri))
    # The pushed artifact keeps its own copy, as TFX's Pusher does, for lineage.
    io_utils.copy_dir(model_path, pushed_model.uri)
    self._MarkPushed(pushed_model, pushed_destination=os.path.join(base_directory, version),
                     pushed_version=version)
    logging.info('Model released as version %s in %s', version, base_directory)


