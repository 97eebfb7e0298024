"""The release registry's decision log: one record per decision, kept in the serving
directory beside the versions it is about.

Every run that reaches the gate adds one (released, already released, refused, or blessed
but not pushed), and so does a run that stopped at the registry step with nothing new to
train on, every rollback and every restore. A record is a file of its own,
LOG_DIR/<UTC time>-<random>.json, written whole (core/storage.py's Store.write_whole):
writers never rewrite each other's records, on a local disk or an object store, and the
names sort in the order the decisions were taken. A record that cannot be read is named
wherever the log is shown, and the rest of the log still reads.
"""
import dataclasses
import datetime
import json
import os
import uuid
from typing import Any, Dict, List, Optional

from tfx.dsl.io import fileio

from petseg.core import errors
from petseg.core import records
from petseg.core import storage
from petseg.core import text
from petseg.records import summary as run_summary
from petseg.registry import versions as release_registry

# What was decided.
RELEASED = 'released'  # pushed as `version`
ALREADY_RELEASED = 'already released'  # blessed; the same model is `version` already
REFUSED = 'refused'  # not blessed: `reasons`
NOT_PUSHED = 'not pushed'  # blessed, but the push failed: `reasons`
ROLLBACK = 'rollback'  # `versions` retired; `version` is served
RESTORE = 'restore'  # `versions` restored; `version` is served
NOTHING_NEW = 'nothing new'  # the run's data and settings are `version`'s: it trained nothing
ACTIONS = (RELEASED, ALREADY_RELEASED, REFUSED, NOT_PUSHED, ROLLBACK, RESTORE, NOTHING_NEW)


@dataclasses.dataclass(frozen=True)
class Decision:
  """One record of the log. A run's decision names the run, its model, its data and
  settings fingerprints, its test mean IoU and report; a rollback's or restore's leaves
  them None and says who took it and why."""
  time: str  # UTC, ISO 8601
  action: str  # one of ACTIONS
  by: str  # user@host of the process that decided
  reasons: List[str]  # why refused or not pushed; a rollback's or restore's reason
  version: Optional[int]  # pushed or already serving it; served after a rollback/restore
  versions: List[int] = dataclasses.field(default_factory=list)  # retired or restored
  pipeline: Optional[str] = None
  pipeline_run: Optional[str] = None
  model: Optional[str] = None
  data_fingerprint: Optional[str] = None
  config_fingerprint: Optional[str] = None
  mean_iou: Optional[float] = None  # on the test split
  baseline: Optional[int] = None  # the version it was compared with
  report: Optional[str] = None  # the run's HTML report

  def what(self) -> str:
    """What was decided, in words: 'released as version 3', 'rollback to version 1
    (retired 2, 3)'."""
    versions = ', '.join(map(str, self.versions))
    return {RELEASED: f'released as version {self.version}',
            ALREADY_RELEASED: f'already released as version {self.version}',
            REFUSED: 'refused', NOT_PUSHED: 'blessed, not pushed',
            ROLLBACK: f'rollback to version {self.version} (retired {versions})',
            RESTORE: f'restored {versions} (version {self.version} served)',
            NOTHING_NEW: f'nothing new since version {self.version}'}[self.action]

  def to_json(self) -> Dict[str, Any]:
    return records.fields_to_json(self)

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Decision':
    return records.fields_from_json(cls, data, 'decision record')


def now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def of_run(action: str, summary: run_summary.RunSummary, version: Optional[int] = None,
           reasons: Optional[List[str]] = None) -> Decision:
  """The decision on a run, from its release record."""
  return Decision(
      time=now(), action=action, by=release_registry.who(),
      reasons=summary.reasons if reasons is None else reasons, version=version,
      pipeline=summary.pipeline, pipeline_run=summary.pipeline_run,
      model=summary.model, data_fingerprint=summary.data_fingerprint,
      config_fingerprint=summary.config_fingerprint, mean_iou=summary.test.mean_iou,
      baseline=summary.baseline.version if summary.baseline else None, report=summary.report)


def append(base_directory: str, decision: Decision) -> str:
  """Adds `decision` to the log of the registry at `base_directory`; returns its path."""
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')
  path = os.path.join(base_directory, release_registry.LOG_DIR,
                      f'{stamp}-{uuid.uuid4().hex[:8]}.json')
  storage.of(path).write_whole(path, json.dumps(decision.to_json(), indent=2,
                                                sort_keys=True))
  return path


@dataclasses.dataclass(frozen=True)
class Log:
  """The log as read: its decisions, oldest first, and a line for each record that could
  not be read (named, with why: reported wherever the log is shown, never fatal)."""
  decisions: List[Decision]
  damaged: List[str]


def read(base_directory: str) -> Log:
  """The log of the registry at `base_directory`."""
  directory = os.path.join(base_directory, release_registry.LOG_DIR)
  if not fileio.exists(directory):
    return Log([], [])
  decisions, damaged = [], []
  for name in sorted(n.rstrip('/') for n in fileio.listdir(directory)):
    if not name.endswith('.json') or name.startswith('.'):
      continue  # a record being written (.partial-*)
    path = os.path.join(directory, name)
    try:
      with fileio.open(path) as f:
        decisions.append(Decision.from_json(json.load(f)))
    except (ValueError, TypeError, UnicodeDecodeError, errors.ConfigError) as e:
      damaged.append(text.shown(f'{path}: not a decision record ({e}); left out of the '
                                f'log: move it out of {directory}'))
  return Log(decisions, damaged)
