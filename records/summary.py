"""The release record of a run: the data, the model and the settings it was trained with,
its metrics on the test split with their intervals, the gate, the comparison with the
released model, and the blessing decision with its reasons, built from the run's
artifacts. The model card is drawn from it (records/model_card.py).

`RunSummary` is the record and `read_file()` its one reader (`read()` for a RunSummary
artifact, registry/versions.read_record for a released version); the ReleaseRecord step
builds it (components/release_record/executor.py), and the Pusher stores it in each version
it releases, `released()` with its version and time.
"""
import dataclasses
import hashlib
import json
import posixpath
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import tensorflow as tf
from tfx.dsl.io import fileio

from petseg.core import comparison as comparison_lib
from petseg.core import config as config_lib
from petseg.core import errors
from petseg.core import labels as labels_lib
from petseg.core import records
from petseg.models import input_pipeline
from petseg.models import training as training_lib

# The record's file: in a RunSummary artifact, and in a released version's assets.extra/.
FILE_NAME = 'release.json'
# Where records written before the card was drawn from them kept it (the toolkit's
# hierarchy, repeating the record's figures).
_OLD_CARD = 'model_card'


Interval = Optional[Tuple[float, float]]  # 95%; None on too few images to judge


@dataclasses.dataclass(frozen=True)
class Intervals:
  """The 95% interval of each figure of a Scores."""
  mean_iou: Interval
  per_class_iou: Dict[str, Interval]
  pixel_accuracy: Interval


@dataclasses.dataclass(frozen=True)
class Scores:
  """One slice's figures on the test split (None: a class absent from it), with their
  intervals, the confusion matrix, and the images they rest on: the slice's and, per
  class, those holding it."""
  mean_iou: Optional[float]
  per_class_iou: Dict[str, Optional[float]]
  pixel_accuracy: Optional[float]
  confusion_matrix: List[List[int]]
  intervals: Intervals
  images: Optional[int] = None
  class_images: Dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Baseline:
  """The released model a run was compared with."""
  version: int
  model_path: str
  mean_iou: float  # on this run's test split


@dataclasses.dataclass(frozen=True)
class Gate:
  """The thresholds the Evaluator applied; the allowed drops are None (and {}) on a first
  release, with nothing to compare with."""
  min_mean_iou: float
  min_class_iou: Dict[str, float]
  max_mean_iou_drop: Optional[float]
  max_slice_drop: Optional[float]
  max_class_drop: Dict[str, float]
  min_slice_images: int
  # How its intervals were drawn (core/bootstrap.py): resamples and seed. None in records
  # written before they were kept.
  bootstrap_resamples: Optional[int] = None
  bootstrap_seed: Optional[int] = None
  # The chance that a model within all its allowed drops is refused (comparison.Family):
  # None on a first release, and in records written before the checks shared one bound.
  error_rate: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class SplitCounts:
  ingested: int
  rejected: int


@dataclasses.dataclass(frozen=True)
class RunSummary:
  """A run's release record. Its JSON (records.encode) is the record's format in every
  released version."""
  pipeline: str
  pipeline_run: str
  created: str
  model: str
  model_path: str
  training: training_lib.TrainingConfig
  training_history: str  # history.csv
  class_names: List[str]
  labels: labels_lib.LabelSpec
  data: Dict[str, SplitCounts]  # by split
  data_fingerprint: str
  config_fingerprint: str
  ingest_report: str
  test_examples: str
  test: Scores
  slices: Dict[str, Scores]
  baseline: Optional[Baseline]  # None on a first release
  # With a baseline: the verdict on the whole split's mean IoU (better, no detectable
  # change, worse), the difference and its 95% interval, every check (slices, classes).
  comparison: Optional[comparison_lib.Comparison]
  blessed: bool
  reasons: List[str]  # why not blessed
  gate: Gate
  serving_dir: str
  evaluation: str  # the Evaluator's output
  # What the test split can detect. None in records written before it was kept.
  sensitivity: Optional[comparison_lib.Sensitivity] = None
  # The run's HTML report (the ReleaseRecord step's report artifact). None in records
  # written before it was kept.
  report: Optional[str] = None
  # The dataset's name and the files ingestion rejected, by reason: for the model card.
  # Records written before the card was drawn from them kept these in their card.
  dataset: Optional[str] = None
  rejected_by_reason: Dict[str, int] = dataclasses.field(default_factory=dict)
  # Set by the Pusher in the record it stores beside a released version: its number and
  # when it was released (UTC, ISO 8601). None in a run's own record.
  version: Optional[int] = None
  released_at: Optional[str] = None

  def released(self, version: int, released_at: str) -> 'RunSummary':
    """The record as stored in version `version`: numbered and dated."""
    return dataclasses.replace(self, version=version, released_at=released_at)

  def to_json(self) -> Dict[str, Any]:
    data = records.fields_to_json(self)
    return data if self.version is not None else {
        key: value for key, value in data.items() if key not in ('version', 'released_at')}

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'RunSummary':
    data = dict(data)
    card = data.pop(_OLD_CARD, None)
    if card is not None and 'dataset' not in data:  # the card held what it alone knew
      card_data = card['model_parameters']['data']
      data['dataset'] = card_data['dataset']
      data['rejected_by_reason'] = card_data['rejected_by_reason']
    return records.fields_from_json(cls, data, 'run summary')


def read_file(path: str) -> RunSummary:
  """The record in the file at `path`; DataError naming the file and what is wrong when it
  is not valid JSON or not a record (records written by every earlier version read)."""
  try:
    with fileio.open(path) as f:
      data = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise errors.DataError(f'{path}: the release record is not valid JSON ({e})') from None
  if not isinstance(data, dict):
    raise errors.DataError(f'{path}: the release record is not a JSON object')
  try:
    return RunSummary.from_json(data)
  except errors.ConfigError as e:
    raise errors.DataError(f'{path}: {e}') from None
  except (KeyError, TypeError, AttributeError) as e:
    raise errors.DataError(f'{path}: the release record lacks or mistypes a field ({e})'
                           ) from None


def read(summary_uri: str) -> RunSummary:
  """The run summary held by a RunSummary artifact (release_record's RunSummaryArtifact)."""
  return read_file(posixpath.join(summary_uri, FILE_NAME))


def write_file(summary: RunSummary, path: str) -> None:
  with fileio.open(path, 'w') as f:
    f.write(json.dumps(summary.to_json(), indent=2, sort_keys=True))


def write(summary: RunSummary, summary_uri: str) -> None:
  fileio.makedirs(summary_uri)
  write_file(summary, posixpath.join(summary_uri, FILE_NAME))


def data_fingerprint(examples_uri: str, splits: Sequence[str]) -> str:
  """sha256 of the examples of each split, whatever their order and file layout (ingestion
  reshuffles, and gzip stamps its files): over each split's sorted digests of its examples,
  serialized deterministically."""
  digest = hashlib.sha256()
  for split in splits:
    examples = sorted(
        hashlib.sha256(tf.train.Example.FromString(record.numpy()).SerializeToString(
            deterministic=True)).digest()
        for record in input_pipeline.records([input_pipeline.split_pattern(examples_uri,
                                                                           split)]))
    digest.update(split.encode())
    digest.update(b''.join(examples))
  return digest.hexdigest()


def settings_fingerprint(training: Mapping[str, Any], release: Mapping[str, Any]) -> str:
  """sha256 of what a run was told to do: its training settings as recorded, the labels
  among them (models/training.recorded), and its release gate as configured (ReleaseConfig
  JSON, its runtime parameters folded in). The registry step computes it before training
  (components/latest_release/), the release record after."""
  return hashlib.sha256(json.dumps({'training': dict(training), 'release': dict(release)},
                                   sort_keys=True).encode()).hexdigest()


def gate(release: config_lib.ReleaseConfig, compared: bool) -> Gate:
  """The thresholds the Evaluator applied (`release`, its ReleaseConfig with the runtime
  parameters folded in): the bounds, the fewest images it judges, the allowed drops when it
  `compared` with a released model (None on a first release), and how its intervals were
  drawn."""
  return Gate(min_mean_iou=release.min_mean_iou, min_class_iou=dict(release.min_class_iou),
              max_mean_iou_drop=release.max_mean_iou_drop if compared else None,
              max_slice_drop=release.max_slice_drop if compared else None,
              max_class_drop=dict(release.max_class_drop) if compared else {},
              min_slice_images=release.min_slice_images,
              bootstrap_resamples=release.bootstrap_resamples,
              bootstrap_seed=release.bootstrap_seed,
              error_rate=release.error_rate if compared else None)


