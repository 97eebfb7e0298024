"""The release record of a run, as pipeline outputs on every orchestrator: the run summary
(JSON, which the Pusher stores beside the model it releases) and the HTML report (an
artifact the Kubeflow Pipelines UI shows).
"""
import dataclasses
import datetime
import json
import math
import posixpath
import os
from typing import Any, Dict, List, Optional

import tensorflow_model_analysis as tfma

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.utils import path_utils
from tfx.types import artifact_utils

from petseg.components.evaluator import executor as evaluator
from petseg.components.evaluator import metrics as sm
from petseg.components.evaluator import results as evaluation_results
from petseg.components.latest_release import executor as latest
from petseg.core import comparison as comparison_lib
from petseg.core import labels as labels_lib
from petseg.core import storage
from petseg.models import input_pipeline
from petseg.models import training as training_lib
from petseg.records import ingest_report
from petseg.records import report
from petseg.records import summary as run_summary
from petseg.registry import log as release_log
from petseg.registry import manager as release_manager
from petseg.registry import versions as release_registry


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    one = {key: artifact_utils.get_single_instance(artifacts)
           for key, artifacts in {**input_dict, **output_dict}.items()}
    baseline = one['baseline']
    version = baseline.get_int_custom_property(latest.VERSION)
    ingest = ingest_report.load(one['examples'].uri)
    summary = build(
        examples_uri=one['examples'].uri, ingest=ingest, model_uri=one['model'].uri,
        model_run_uri=one['model_run'].uri, evaluation_uri=one['evaluation'].uri,
        blessed=one['blessing'].get_int_custom_property(evaluator.BLESSED_KEY) == 1,
        baseline=({'version': version, 'model_path': baseline.get_string_custom_property(
            latest.PATH)} if version else None),
        pipeline=exec_properties['pipeline_name'],
        pipeline_run=self._context.pipeline_run_id or exec_properties['pipeline_run'],
        serving_dir=exec_properties['serving_dir'])
    page = one['report']
    summary = dataclasses.replace(summary, report=storage.durable(page.uri))
    output = one['summary']
    run_summary.write(summary, output.uri)
    output.set_int_custom_property(evaluator.BLESSED_KEY, int(summary.blessed))
    if summary.test.mean_iou is not None:
      output.set_float_custom_property('mean_iou', summary.test.mean_iou)
    fileio.makedirs(os.path.dirname(page.uri))
    report.write(summary, ingest, page.uri)
    if not summary.blessed:  # a blessed model's decision is the Pusher's to log
      serving_dir = exec_properties['serving_dir']
      fileio.makedirs(serving_dir)
      with release_registry.lock(serving_dir):
        release_manager.log(serving_dir, release_log.of_run(release_log.REFUSED, summary))


def scores(metrics: Dict[str, evaluation_results.Estimate], class_names: List[str]) -> run_summary.Scores:
  """One slice's run_summary.Scores from the Evaluator's estimates."""

  def interval(name) -> run_summary.Interval:
    bounds = metrics[name].interval
    return tuple(bounds) if bounds else None

  return run_summary.Scores(
      mean_iou=metrics[sm.MEAN_IOU].value,
      per_class_iou={n: metrics[sm.class_iou_name(n)].value for n in class_names},
      pixel_accuracy=metrics[sm.PIXEL_ACCURACY].value,
      confusion_matrix=metrics[sm.CONFUSION_MATRIX].value,
      intervals=run_summary.Intervals(
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


def build(examples_uri: str, ingest: ingest_report.IngestReport, model_uri: str,
          model_run_uri: str, evaluation_uri: str, blessed: bool,
          baseline: Optional[Dict[str, Any]], pipeline: str, pipeline_run: str,
          serving_dir: str) -> run_summary.RunSummary:
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
  release = evaluation_results.applied_gate(evaluation_uri)
  applied_gate = run_summary.gate(release, comparison is not None)
  return run_summary.RunSummary(
      pipeline=pipeline,
      pipeline_run=pipeline_run,
      created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      model=config['model'],
      model_path=storage.durable(path_utils.serving_model_dir(model_uri)),
      training=training_lib.TrainingConfig.from_json(config),
      training_history=storage.durable(posixpath.join(model_run_uri, 'history.csv')),
      class_names=class_names,
      labels=labels_lib.LabelSpec.from_json(labels),
      data={split: run_summary.SplitCounts(s.ingested, s.rejected) for split, s in ingest.splits.items()},
      data_fingerprint=run_summary.data_fingerprint(examples_uri, list(ingest.splits)),
      config_fingerprint=run_summary.settings_fingerprint(
          {**config, 'labels': labels},
          release.to_json()),
      ingest_report=storage.durable(ingest_report.path(examples_uri)),
      test_examples=storage.durable(input_pipeline.split_pattern(examples_uri, 'test')),
      test=scores(candidate[evaluation_results.OVERALL], class_names),
      slices={name: scores(m, class_names) for name, m in candidate.items()
              if name != evaluation_results.OVERALL},
      baseline=(run_summary.Baseline(baseline['version'], baseline['model_path'],
                         metrics[evaluation_results.BASELINE][evaluation_results.OVERALL][
                             sm.MEAN_IOU].value)
                if baseline else None),
      comparison=comparison,
      blessed=blessed,
      reasons=[] if blessed else blessing_reasons(evaluation_uri, comparison),
      gate=applied_gate,
      serving_dir=serving_dir,
      evaluation=storage.durable(evaluation_uri),
      sensitivity=evaluation_results.sensitivity(metrics, applied_gate.min_slice_images,
                                                 comparison),
      dataset=ingest.dataset,
      rejected_by_reason=dict(ingest.rejected_by_reason),
  )
