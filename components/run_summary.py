"""The release record of a run: the data, the model and the settings it was trained with,
its metrics on the test split, the gate, the blessing decision with its reasons and the
released model it was compared with, built from the run's artifacts.

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
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx.dsl.io import fileio
from tfx.utils import path_utils

from petseg.components import ingest_report
from petseg.components import release_registry
from petseg.components import segmentation_metrics as sm
from petseg.core import config as config_lib
from petseg.models import input_pipeline
from petseg.models import training

# In a RunSummary artifact, named as the record in a released version.
SUMMARY_FILE = posixpath.basename(release_registry.RECORD_FILE)
OVERALL = 'overall'


@dataclasses.dataclass(frozen=True)
class RunSummary:
  """A run's release record. Scores (`test`, each of `slices`) are {mean_iou,
  per_class_iou, pixel_accuracy, confusion_matrix}; `baseline` is {version, model_path,
  mean_iou} of the released model compared with, None on a first release."""
  pipeline: str
  pipeline_run: str
  created: str
  model: str
  model_path: str
  training: Dict[str, Any]  # the TrainingConfig, as JSON
  training_history: str  # history.csv
  class_names: List[str]
  labels: Dict[str, Any]  # the LabelSpec, as JSON
  data: Dict[str, Dict[str, int]]  # split -> {ingested, rejected}
  data_fingerprint: str
  config_fingerprint: str
  ingest_report: str
  test_examples: str
  test: Dict[str, Any]
  slices: Dict[str, Dict[str, Any]]
  baseline: Optional[Dict[str, Any]]
  blessed: bool
  reasons: List[str]  # why not blessed
  gate: Dict[str, Any]  # the thresholds applied
  serving_dir: str
  evaluation: str  # the Evaluator's output

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'RunSummary':
    return config_lib.dataclass_from_json(cls, data, 'run summary')


def read(summary_uri: str) -> RunSummary:
  """The run summary held by a RunSummary artifact (release_record.RunSummaryArtifact)."""
  with fileio.open(posixpath.join(summary_uri, SUMMARY_FILE)) as f:
    return RunSummary.from_json(json.load(f))


def write(summary: RunSummary, summary_uri: str) -> None:
  fileio.makedirs(summary_uri)
  with fileio.open(posixpath.join(summary_uri, SUMMARY_FILE), 'w') as f:
    f.write(json.dumps(summary.to_json(), indent=2))


def _value(metric_value) -> Any:
  """A TFMA metric value as JSON: a float (None for NaN) or a nested list."""
  if metric_value.HasField('array_value'):
    array = metric_value.array_value
    return np.array(array.int64_values or array.float64_values).reshape(
        tuple(array.shape)).tolist()
  value = metric_value.double_value.value
  return None if math.isnan(value) else value


def _slice_name(slice_key) -> str:
  parts = [f'{k.column}={k.bytes_value.decode() if k.HasField("bytes_value") else k.int64_value}'
           for k in slice_key.single_slice_keys]
  return ','.join(parts) or OVERALL


def load_metrics(evaluation_uri: str) -> Dict[str, Dict[str, Dict[str, Any]]]:
  """{model ('candidate', 'baseline'): {slice: {metric name: value}}} of an Evaluator run;
  a run without a baseline names its model 'candidate' too."""
  result: Dict[str, Dict[str, Dict[str, Any]]] = {}
  for per_slice in tfma.load_metrics(evaluation_uri):
    for entry in per_slice.metric_keys_and_values:
      if entry.key.is_diff:
        continue
      model = entry.key.model_name or tfma.CANDIDATE_KEY
      (result.setdefault(model, {}).setdefault(_slice_name(per_slice.slice_key), {})
       [entry.key.name]) = _value(entry.value)
  return result


def scores(metrics: Dict[str, Any], class_names: List[str]) -> Dict[str, Any]:
  """One slice's metrics in the shape of petseg.evaluation.scores, with the matrix."""
  return {
      'mean_iou': metrics[sm.MEAN_IOU],
      'per_class_iou': {n: metrics[sm.class_iou_name(n)] for n in class_names},
      'pixel_accuracy': metrics[sm.PIXEL_ACCURACY],
      'confusion_matrix': metrics[sm.CONFUSION_MATRIX],
  }


def _reason(failure) -> str:
  """One failed threshold, said with the numbers."""
  name = failure.metric_key.name
  value = failure.metric_value.double_value.value
  threshold = failure.metric_threshold
  if math.isnan(value):
    return f'{name} has no value (the class is absent from the test split)'
  if failure.metric_key.is_diff:
    allowed = -threshold.change_threshold.absolute.value
    return (f'{name} is {-value:.3f} below the released model\'s, more than the allowed '
            f'drop of {allowed:.3f}')
  bound = threshold.value_threshold.lower_bound.value
  return f'{name} {value:.3f} is below the lower bound {bound:.3f} by {bound - value:.3f}'


def blessing_reasons(evaluation_uri: str) -> List[str]:
  validation = tfma.load_validation_result(evaluation_uri)
  reasons = [_reason(failure) for per_slice in validation.metric_validations_per_slice
             for failure in per_slice.failures]
  reasons += [f'no examples in slice {_slice_name(s)}' for s in validation.missing_slices]
  return reasons


def data_fingerprint(examples_uri: str, splits: Sequence[str]) -> str:
  """sha256 of the examples of each split, whatever their order and file layout (ingestion
  reshuffles, and gzip stamps its files): over each split's sorted digests of its examples,
  serialized deterministically."""
  digest = hashlib.sha256()
  for split in splits:
    examples = sorted(
        hashlib.sha256(tf.train.Example.FromString(record.numpy()).SerializeToString(
            deterministic=True)).digest()
        for record in input_pipeline.records([posixpath.join(examples_uri, f'Split-{split}',
                                                             '*')]))
    digest.update(split.encode())
    digest.update(b''.join(examples))
  return digest.hexdigest()


def _json_fingerprint(value: Any) -> str:
  return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def gate(evaluation_uri: str) -> Dict[str, Any]:
  """The thresholds the Evaluator applied, from the EvalConfig it wrote beside its results
  (the runtime bound already folded in); `max_mean_iou_drop` is None on a first release."""
  eval_config = tfma.writers.eval_config_writer.load_eval_run(evaluation_uri)[0]
  result: Dict[str, Any] = {'min_mean_iou': None, 'max_mean_iou_drop': None,
                            'min_class_iou': {}}
  prefix = len(sm.class_iou_name(''))
  for metric in eval_config.metrics_specs[0].metrics:
    name = json.loads(metric.config or '{}').get('name', sm.MEAN_IOU)
    for per_slice in metric.per_slice_thresholds:
      threshold = per_slice.threshold
      if name == sm.MEAN_IOU:
        result['min_mean_iou'] = threshold.value_threshold.lower_bound.value
        if threshold.HasField('change_threshold'):  # TFMA drops it without a baseline
          result['max_mean_iou_drop'] = -threshold.change_threshold.absolute.value
      else:
        result['min_class_iou'][name[prefix:]] = threshold.value_threshold.lower_bound.value
  return result


def build(examples_uri: str, ingest: ingest_report.IngestReport, model_uri: str,
          model_run_uri: str, evaluation_uri: str, blessed: bool,
          baseline: Optional[Dict[str, Any]], pipeline: str, pipeline_run: str,
          serving_dir: str) -> RunSummary:
  """The release record of a run, from its artifacts and `ingest`, the examples' ingest
  report: `baseline` is {'version', 'model_path'} of the released model it was compared
  with, or None on a first release."""
  with fileio.open(posixpath.join(model_run_uri, training.CONFIG_FILE)) as f:
    config = json.load(f)
  labels = config.pop('labels')
  class_names = labels['class_names']
  metrics = load_metrics(evaluation_uri)
  candidate = metrics[tfma.CANDIDATE_KEY]
  applied_gate = gate(evaluation_uri)
  return RunSummary(
      pipeline=pipeline,
      pipeline_run=pipeline_run,
      created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      model=config['model'],
      model_path=path_utils.serving_model_dir(model_uri),
      training=config,
      training_history=posixpath.join(model_run_uri, 'history.csv'),
      class_names=class_names,
      labels=labels,
      data={split: {'ingested': s.ingested, 'rejected': s.rejected}
            for split, s in ingest.splits.items()},
      data_fingerprint=data_fingerprint(examples_uri, list(ingest.splits)),
      config_fingerprint=_json_fingerprint({'training': config, 'labels': labels,
                                            'gate': applied_gate}),
      ingest_report=ingest_report.path(examples_uri),
      test_examples=posixpath.join(examples_uri, 'Split-test', '*'),
      test=scores(candidate[OVERALL], class_names),
      slices={name: scores(m, class_names) for name, m in candidate.items()
              if name != OVERALL},
      baseline=({**baseline, 'mean_iou': metrics[tfma.BASELINE_KEY][OVERALL][sm.MEAN_IOU]}
                if baseline else None),
      blessed=blessed,
      reasons=[] if blessed else blessing_reasons(evaluation_uri),
      gate=applied_gate,
      serving_dir=serving_dir,
      evaluation=evaluation_uri,
  )
