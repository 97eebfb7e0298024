"""What a release manager does with the registry (registry/versions.py): list its
versions, roll back, restore, and keep the decision log and the index page up to date.

TensorFlow Serving's default version policy serves the highest version it sees. A rollback
to N moves the versions above N into RETIRED_DIR, lowest first, so that the highest one
stays in sight until the last move; a server sees the same highest version after each
move but the last, which switches it to N in one step. A restore moves versions back,
highest first: the first move switches the server to it, and the lower ones appear below.
On a local or POSIX file system each move is a rename, atomic; an object store has no
rename: there a move copies the version (saved_model.pb last) and then deletes the
original (saved_model.pb first), and the switch happens when the last file of the highest
version goes or the copy's saved_model.pb arrives.

Pushes, rollbacks and restores take the registry's lock (release_registry.lock), so that
on a local file system (an flock) and on S3 (an object created only if absent) they never
interleave; GCS offers no lock, and a change there says so. Each change writes its log
record and the page last, so that the log tells what the registry holds.
"""
import dataclasses
import os
from typing import Any, Dict, List, Optional

from absl import logging
import tensorflow as tf
from tfx.dsl.io import fileio

from petseg.core import errors
from petseg.core import storage
from petseg.core import text
from petseg.registry import log as release_log
from petseg.registry import page as registry_page
from petseg.registry import versions as release_registry

# A version's status.
SERVING = 'serving'  # the highest complete version: what TF Serving's default policy serves
AVAILABLE = 'available'  # complete, below the served one (kept for a version policy)
INCOMPLETE = 'incomplete'  # no saved_model.pb: still being written, or a broken copy
RETIRED = 'retired'  # moved out of sight by a rollback


@dataclasses.dataclass(frozen=True)
class Release:
  """One version of the registry as its release record tells it; the record's fields are
  None for a version pushed without one, and `problem` says why a record cannot be read."""
  version: int
  status: str
  path: str
  released_at: Optional[str] = None
  model: Optional[str] = None
  mean_iou: Optional[float] = None  # on the test split
  interval: Optional[List[float]] = None  # its 95% interval
  verdict: Optional[str] = None  # against `compared_with`; 'first release' without one
  compared_with: Optional[int] = None
  data_fingerprint: Optional[str] = None
  config_fingerprint: Optional[str] = None
  pipeline_run: Optional[str] = None
  model_card: Optional[str] = None
  report: Optional[str] = None
  problem: Optional[str] = None
  # What its test split could tell: comparison.Sensitivity's sentence (the gate's power
  # against the version it was compared with); None in records from before it was kept.
  precision: Optional[str] = None

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


def _release(base_directory: str, version: int, status: str) -> Release:
  """A version as listed; `problem` says what is wrong with its model (checked as run and
  predict check it) or its record."""
  path = release_registry.version_path(base_directory, version, status == RETIRED)
  problem = None if status == INCOMPLETE else release_registry.model_problem(path)
  if problem:
    return Release(version, status, path, problem=problem)
  try:
    record = release_registry.read_record(path)
  except errors.DataError as e:
    return Release(version, status, path, problem=str(e))
  if record is None:
    return Release(version, status, path, problem='no release record')

  def beside(name: str) -> Optional[str]:
    page = os.path.join(path, name)
    return page if fileio.exists(page) else None

  comparison, baseline = record.comparison, record.baseline
  return Release(
      version, status, path, released_at=record.released_at, model=record.model,
      mean_iou=record.test.mean_iou,
      interval=list(record.test.intervals.mean_iou) if record.test.intervals.mean_iou else None,
      verdict=comparison.verdict if comparison else (None if baseline else 'first release'),
      compared_with=baseline.version if baseline else None,
      data_fingerprint=record.data_fingerprint,
      config_fingerprint=record.config_fingerprint,
      pipeline_run=record.pipeline_run,
      model_card=beside(release_registry.MODEL_CARD_FILE),
      report=beside(release_registry.REPORT_FILE),
      precision=record.sensitivity.sentence() if record.sensitivity else None)


def _check_exists(base_directory: str) -> None:
  if not fileio.isdir(base_directory):
    raise errors.ReleaseError(
        f'{base_directory}: ' + ('a file, not a serving directory' if fileio.exists(
            base_directory) else 'no such serving directory'))


def releases(base_directory: str) -> List[Release]:
  """Every version, the retired ones included, newest first."""
  _check_exists(base_directory)
  complete = release_registry.complete_versions(base_directory)
  served = max(complete, default=None)
  found = [_release(base_directory, v, RETIRED)
           for v in release_registry.retired_versions(base_directory)]
  for version in release_registry.versions(base_directory):
    status = SERVING if version == served else AVAILABLE if version in complete else INCOMPLETE
    found.append(_release(base_directory, version, status))
  return sorted(found, key=lambda r: r.version, reverse=True)


def next_version(base_directory: str) -> int:
  """The number a push takes: above every version, the retired ones and those the log says
  were released (and someone deleted since) included, so that no number is used twice."""
  used = (release_registry.versions(base_directory)
          + release_registry.retired_versions(base_directory)
          + [d.version for d in release_log.read(base_directory).decisions
             if d.action == release_log.RELEASED and d.version])
  return max(used, default=0) + 1


def refresh_index(base_directory: str) -> None:
  """Rewrites the registry's page (release_registry.INDEX_FILE) from what it holds now, in
  one write. The page only shows the registry: a full disk leaves it as it was, with a
  warning; a damaged log record is named on it."""
  try:
    found = releases(base_directory)
    page = registry_page.page(base_directory, found,
                              next((r.version for r in found if r.status == SERVING), None),
                              release_log.read(base_directory))
    storage.of(base_directory).write_whole(
        os.path.join(base_directory, release_registry.INDEX_FILE), page)
  except (errors.DataError, OSError, tf.errors.OpError) as e:
    logging.warning('%s not rewritten: %s', release_registry.INDEX_FILE, e)


def log(base_directory: str, decision: release_log.Decision) -> None:
  """Adds `decision` to the log and rewrites the page: the last writes of every change to
  the registry, each whole. Call it under the registry's lock."""
  release_log.append(base_directory, decision)
  refresh_index(base_directory)


def _move(source: str, destination: str) -> None:
  """Moves a version, atomically where the file system can (see the module doc)."""
  fileio.makedirs(os.path.dirname(destination))
  if storage.of(source).atomic_rename:
    os.rename(source, destination)
    return
  release_registry.copy_version(source, destination)
  fileio.remove(os.path.join(source, release_registry.SAVED_MODEL))
  fileio.rmtree(source)


def _move_versions(base_directory: str, versions: List[int], retire: bool, action: str,
                   reason: str) -> release_log.Decision:
  """Moves `versions`, in the order given, out of sight (retire) or back, and logs it as
  `action`, for `reason`. When the file system refuses a move, logs the moves made before
  it (the log tells what the registry holds) and raises ReleaseError naming the version,
  the reason and what moved."""
  for i, version in enumerate(versions):
    source, destination = (release_registry.version_path(base_directory, version, not retire),
                           release_registry.version_path(base_directory, version, retire))
    try:
      _move(source, destination)
    except (OSError, tf.errors.OpError) as e:
      failure = (f'{source}: cannot be moved to {destination} '
                 f'({release_registry.failure_reason(e)}); moved before it: '
                 + (', '.join(map(str, versions[:i])) or 'none'))
      if i:
        try:
          log(base_directory, _decision(base_directory, action, versions[:i],
                                        [reason, f'stopped: {failure}']))
        except (OSError, tf.errors.OpError) as unlogged:  # e.g. the disk that refused
          failure += f'; not logged ({release_registry.failure_reason(unlogged)})'
      raise errors.ReleaseError(failure) from None
  decision = _decision(base_directory, action, versions, [reason])
  try:
    log(base_directory, decision)
  except (OSError, tf.errors.OpError) as e:
    raise errors.ReleaseError(
        f'{base_directory}: {decision.what()} is done, but its log record could not be '
        f'written ({release_registry.failure_reason(e)})') from None
  return decision


def _decision(base_directory: str, action: str, versions: List[int],
              reasons: List[str]) -> release_log.Decision:
  """A rollback's or restore's record, with the version served after it."""
  return release_log.Decision(
      time=release_log.now(), action=action, by=release_registry.who(),
      reasons=[r for r in reasons if r.strip()], version=_served_after(base_directory),
      versions=sorted(versions))


def _served_after(base_directory: str) -> int:
  return release_registry.newest_release(base_directory) or 0


def rollback(base_directory: str, reason: str, to: Optional[int] = None) -> release_log.Decision:
  """Retires every version above `to` (default: the complete version below the served
  one), so that `to` is served; logs who, when and why."""
  if not text.checked(reason, '--reason').strip():
    raise errors.ConfigError('a rollback needs a reason (--reason), for the log')
  _check_exists(base_directory)
  with release_registry.lock(base_directory):
    complete = release_registry.complete_versions(base_directory)
    served = max(complete, default=None)
    if served is None:
      raise errors.ReleaseError(f'{base_directory}: no version is served; nothing to roll '
                                'back')
    if to is None:
      older = [v for v in complete if v < served]
      if not older:
        raise errors.ReleaseError(f'{base_directory}: version {served} is the only one '
                                  'served; there is nothing older to roll back to')
      to = max(older)
    elif to not in complete:
      raise errors.ReleaseError(f'{base_directory}: cannot roll back to version {to}: '
                                + _absent(base_directory, to))
    elif to == served:
      raise errors.ReleaseError(f'{base_directory}: version {to} is served already; nothing '
                                'was changed')
    release_registry.check_version(release_registry.version_path(base_directory, to))
    retire = [v for v in release_registry.versions(base_directory) if v > to]
    taken = [v for v in retire if fileio.exists(
        release_registry.version_path(base_directory, v, retired=True))]
    if taken:
      raise errors.ReleaseError(
          f'{base_directory}: {release_registry.RETIRED_DIR} already holds version '
          f'{taken[0]}; move one of the two copies away; nothing was changed')
    # Lowest first: the served version changes at the last move.
    return _move_versions(base_directory, retire, retire=True, action=release_log.ROLLBACK,
                          reason=reason)


def _absent(base_directory: str, version: int) -> str:
  """Why `version` is not a complete version in sight."""
  if version in release_registry.retired_versions(base_directory):
    return f'it is retired (petseg restore {version} brings it back)'
  if version in release_registry.versions(base_directory):
    return f'it is incomplete (no {release_registry.SAVED_MODEL})'
  return 'there is no such version'


def restore(base_directory: str, version: int, reason: str = '') -> release_log.Decision:
  """Brings retired `version` back, with the versions below it that the same rollback
  retired (so that restoring the highest undoes the rollback); logs who, when and why.
  Refuses, changing nothing, when one of them is incomplete or damaged."""
  text.checked(reason, '--reason')
  _check_exists(base_directory)
  with release_registry.lock(base_directory):
    retired = release_registry.retired_versions(base_directory)
    if version not in retired:
      raise errors.ReleaseError(
          f'{base_directory}: version {version} is not retired: ' + (
              'it is in sight already' if version in release_registry.versions(base_directory)
              else 'there is no such version') + '; nothing was changed')
    rollbacks = [d for d in release_log.read(base_directory).decisions
                 if d.action == release_log.ROLLBACK and version in d.versions]
    group = sorted({v for v in (rollbacks[-1].versions if rollbacks else [version])
                    if v <= version and v in retired}, reverse=True)
    taken = [v for v in group if fileio.exists(
        release_registry.version_path(base_directory, v))]
    if taken:
      raise errors.ReleaseError(f'{base_directory}: a version {taken[0]} is in sight already; '
                                'move one of the two copies away; nothing was changed')
    for v in group:
      problem = release_registry.model_problem(
          release_registry.version_path(base_directory, v, retired=True))
      if problem:
        raise errors.ReleaseError(f'{base_directory}: cannot restore version {v}: {problem}; '
                                  'nothing was changed')
    # Highest first: the server switches once, at the first move.
    return _move_versions(base_directory, group, retire=False, action=release_log.RESTORE,
                          reason=reason)
