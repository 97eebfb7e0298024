"""The release record of a run: the data, the model and the settings it was trained with,
its metrics on the test split with their intervals, the gate, the comparison with the
released model, the blessing decision with its reasons, and the model card, built from
the run's artifacts.

`RunSummary` is the record and `read()` its one loader; `build()` makes it (the
ReleaseRecord component runs it on every orchestrator, and the Pusher stores it beside
each released version).
"""
import dataclasses
import datetime
import hashlib
import json
import math
import posixpath
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx.dsl.io import fileio
from tfx.utils import path_utils

from petseg.components.evaluator import metrics as sm
from petseg.components.evaluator import results as evaluation_results
from petseg.components.ingest import ingest_report
from petseg.components.release import model_card as model_card_lib
from petseg.components.release import registry as release_registry
from petseg.core import comparison as comparison_lib
from petseg.core import config as config_lib
from petseg.core import records
from petseg.core import storage
from petseg.models import input_pipeline
from petseg.models import training as training_lib

# In a RunSummary artifact, named as the record in a released version.
SUMMARY_FILE = posixpath.basename(release_registry.RECORD_FILE)


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
  labels: Dict[str, Any]  # the LabelSpec, as JSON
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
  model_card: Optional[model_card_lib.ModelCard]  # None only while build() makes it
  # What the test split can detect. None in records written before it was kept.
  sensitivity: Optional[comparison_lib.Sensitivity] = None
  # The run's HTML report (the ReleaseRecord step's report artifact). None in records
  # written before it was kept.
  report: Optional[str] = None

  def to_json(self) -> Dict[str, Any]:
    return records.fields_to_json(self)

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'RunSummary':
    return records.fields_from_json(cls, data, 'run summary')


def read(summary_uri: str) -> RunSummary:
  """The run summary held by a RunSummary artifact (release_record.RunSummaryArtifact)."""
  with fileio.open(posixpath.join(summary_uri, SUMMARY_FILE)) as f:
    return RunSummary.from_json(json.load(f))


def write(summary: RunSummary, summary_uri: str) -> None:
  fileio.makedirs(summary_uri)
  with fileio.open(posixpath.join(summary_uri, SUMMARY_FILE), 'w') as f:
    f.write(json.dumps(summary.to_json(), indent=2))


def scores(metrics: Dict[str, evaluation_results.Estimate], class_names: List[str]) -> Scores:
  """One slice's Scores from the Evaluator's estimates."""

  def interval(name) -> Interval:
    bounds = metrics[name].interval
    return tuple(bounds) if bounds else None

  return Scores(
      mean_iou=metrics[sm.MEAN_IOU].value,
      per_class_iou={n: metrics[sm.class_iou_name(n)].value for n in class_names},
      pixel_accuracy=metrics[sm.PIXEL_ACCURACY].value,
      confusion_matrix=metrics[sm.CONFUSION_MATRIX].value,
      intervals=Intervals(
          mean_iou=interval(sm.MEAN_IOU),
          per_class_iou={n: interval(sm.class_iou_name(n)) for n in class_names},
          pixel_accuracy=interval(sm.PIXEL_ACCURACY)),
      images=metrics[sm.MEAN_IOU].images,
      class_images={n: metrics[sm.class_iou_name(n)].images for n in class_names})


def _reason(failure) -> str:
  """One failed threshold, said with the numbers."""
  name = failure.metric_key.name
  value = failure.metric_value.double_value.value
  threshold = failure.metric_threshold
  if math.isnan(value):
    return f'{name} has no value (the class is absent from the test split)'
  bound = threshold.value_threshold.lower_bound.value
  return f'{name} {value:.3f} is below the lower bound {bound:.3f} by {bound - value:.3f}'


def blessing_reasons(evaluation_uri: str,
                     comparison: Optional[comparison_lib.Comparison]) -> List[str]:
  """Why the Evaluator refused: TFMA's failed bounds, then the comparison's failed
  checks."""
  validation = tfma.load_validation_result(evaluation_uri)
  reasons = [_reason(failure) for per_slice in validation.metric_validations_per_slice
             for failure in per_slice.failures]
  reasons += [f'no examples in slice {evaluation_results.slice_name(s)}'
              for s in validation.missing_slices]
  return reasons + (comparison.reasons() if comparison else [])


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
  (components/release/latest.py), the release record after."""
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


def build(examples_uri: str, ingest: ingest_report.IngestReport, model_uri: str,
          model_run_uri: str, evaluation_uri: str, blessed: bool,
          baseline: Optional[Dict[str, Any]], pipeline: str, pipeline_run: str,
          serving_dir: str) -> RunSummary:
  """The release record of a run, from its artifacts and `ingest`, the examples' ingest
  report: `baseline` is {'version', 'model_path'} of the released model it was compared
  with, or None on a first release."""
  with fileio.open(posixpath.join(model_run_uri, training_lib.CONFIG_FILE)) as f:
    config = json.load(f)
  labels = config.pop('labels')
  class_names = labels['class_names']
  metrics = evaluation_results.load(evaluation_uri)
  candidate = metrics[evaluation_results.CANDIDATE]
  comparison = evaluation_results.read_comparison(evaluation_uri)
  release = evaluation_results.release_config(evaluation_uri)
  applied_gate = gate(release, comparison is not None)
  summary = RunSummary(
      pipeline=pipeline,
      pipeline_run=pipeline_run,
      created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      model=config['model'],
      model_path=storage.durable(path_utils.serving_model_dir(model_uri)),
      training=training_lib.TrainingConfig.from_json(config),
      training_history=storage.durable(posixpath.join(model_run_uri, 'history.csv')),
      class_names=class_names,
      labels=labels,
      data={split: SplitCounts(s.ingested, s.rejected) for split, s in ingest.splits.items()},
      data_fingerprint=data_fingerprint(examples_uri, list(ingest.splits)),
      config_fingerprint=settings_fingerprint(
          {**config, 'labels': labels},
          release.to_json()),
      ingest_report=storage.durable(ingest_report.path(examples_uri)),
      test_examples=storage.durable(input_pipeline.split_pattern(examples_uri, 'test')),
      test=scores(candidate[evaluation_results.OVERALL], class_names),
      slices={name: scores(m, class_names) for name, m in candidate.items()
              if name != evaluation_results.OVERALL},
      baseline=(Baseline(baseline['version'], baseline['model_path'],
                         metrics[evaluation_results.BASELINE][evaluation_results.OVERALL][
                             sm.MEAN_IOU].value)
                if baseline else None),
      comparison=comparison,
      blessed=blessed,
      reasons=[] if blessed else blessing_reasons(evaluation_uri, comparison),
      gate=applied_gate,
      serving_dir=serving_dir,
      evaluation=storage.durable(evaluation_uri),
      model_card=None,
      sensitivity=evaluation_results.sensitivity(metrics, applied_gate.min_slice_images,
                                                 comparison),
  )
  return dataclasses.replace(summary, model_card=model_card_lib.build(summary, ingest))
