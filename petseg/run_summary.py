"""What a run did, read back from ML Metadata and the Evaluator's output: the data, the
model, its metrics, the blessing decision with its reasons, and where the model went.

`collect()` gives the summary as a dict (written as OUTPUT_DIR/run_summary.json);
`table()` gives the lines `petseg run` prints.
"""
import json
import math
import os
from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow_model_analysis as tfma

from petseg import segmentation_metrics as sm
from petseg.components import tunable
from petseg.pipeline import metadata

FILE_NAME = 'run_summary.json'
OVERALL = 'overall'


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
    return (f'{name} is {-value:.3f} below the last blessed model\'s, more than the allowed '
            f'drop of {allowed:.3f}')
  bound = threshold.value_threshold.lower_bound.value
  return f'{name} {value:.3f} is below the lower bound {bound:.3f} by {bound - value:.3f}'


def blessing_reasons(evaluation_uri: str) -> List[str]:
  validation = tfma.load_validation_result(evaluation_uri)
  reasons = [_reason(failure) for per_slice in validation.metric_validations_per_slice
             for failure in per_slice.failures]
  reasons += [f'no examples in slice {_slice_name(s)}' for s in validation.missing_slices]
  return reasons


def _ingest(store, executions) -> Dict[str, Any]:
  examples, = metadata.output_artifacts(store, executions['ExampleGen'].id, 'examples')
  report_path = examples.custom_properties['ingest_report'].string_value
  with open(report_path) as f:
    report = json.load(f)
  return {'data': {split: {'ingested': s['ingested'], 'rejected': s['rejected']}
                   for split, s in report['splits'].items()},
          'ingest_report': report_path,
          'test_examples': os.path.join(examples.uri, 'Split-test', '*')}


def _serving_path(model_uri: str) -> str:
  return os.path.join(model_uri, 'Format-Serving')


def collect(output_dir: str, metadata_path: str, pipeline_name: str) -> Dict[str, Any]:
  store = metadata.connect(metadata_path)
  executions = metadata.run_executions(store, pipeline_name)
  ingest = _ingest(store, executions)
  trainer = executions['Trainer']
  model, = metadata.output_artifacts(store, trainer.id, 'model')
  model_run, = metadata.output_artifacts(store, trainer.id, 'model_run')
  config = tunable.training_config_of(trainer)
  labels = config.pop('labels')
  class_names = labels['class_names']
  evaluator = executions['Evaluator']
  evaluation, = metadata.output_artifacts(store, evaluator.id, 'evaluation')
  blessing, = metadata.output_artifacts(store, evaluator.id, 'blessing')
  baseline = metadata.input_artifacts(store, evaluator.id, 'baseline_model')
  metrics = load_metrics(evaluation.uri)
  candidate = metrics[tfma.CANDIDATE_KEY]
  blessed = blessing.custom_properties['blessed'].int_value == 1
  pushed = None
  if 'Pusher' in executions:
    pushed_model, = metadata.output_artifacts(store, executions['Pusher'].id, 'pushed_model')
    if pushed_model.custom_properties['pushed'].int_value == 1:
      pushed = pushed_model.custom_properties['pushed_destination'].string_value
  return {
      'pipeline': pipeline_name,
      'output_dir': output_dir,
      'model': config['model'],
      'model_path': _serving_path(model.uri),
      'training': config,
      'training_history': os.path.join(model_run.uri, 'history.csv'),
      'class_names': class_names,
      'labels': labels,
      **ingest,
      'test': scores(candidate[OVERALL], class_names),
      'slices': {name: scores(m, class_names) for name, m in candidate.items()
                 if name != OVERALL},
      'baseline': ({'model_path': _serving_path(baseline[0].uri),
                    'mean_iou': metrics[tfma.BASELINE_KEY][OVERALL][sm.MEAN_IOU]}
                   if baseline else None),
      'blessed': blessed,
      'reasons': [] if blessed else blessing_reasons(evaluation.uri),
      'gate': _gate(evaluator),
      'pushed': pushed,
      'evaluation': evaluation.uri,
  }


def _gate(evaluator) -> Dict[str, Any]:
  """The thresholds an Evaluator execution applied, from its recorded properties."""
  eval_config = json.loads(evaluator.custom_properties['eval_config'].string_value)
  gate: Dict[str, Any] = {'min_mean_iou': tunable.min_mean_iou_of(evaluator),
                          'max_mean_iou_drop': None, 'min_class_iou': {}}
  for metric in eval_config['metrics_specs'][0]['metrics']:
    for per_slice in metric.get('per_slice_thresholds', []):
      threshold = per_slice['threshold']
      name = json.loads(metric['config']).get('name', sm.MEAN_IOU)
      if name == sm.MEAN_IOU:
        gate['max_mean_iou_drop'] = -threshold['change_threshold']['absolute']
      else:
        prefix = len(sm.class_iou_name(''))
        gate['min_class_iou'][name[prefix:]] = threshold['value_threshold']['lower_bound']
  return gate


def _fmt(value: Optional[float]) -> str:
  return 'n/a' if value is None else f'{value:.3f}'


def table(summary: Dict[str, Any]) -> List[str]:
  test = summary['test']
  lines = [f'Model      {summary["model"]}  {summary["model_path"]}',
           'Data       ' + ', '.join(f'{split} {d["ingested"]} (+{d["rejected"]} rejected)'
                                    for split, d in summary['data'].items()),
           f'Test       mean IoU {_fmt(test["mean_iou"])}, pixel accuracy '
           f'{_fmt(test["pixel_accuracy"])}',
           '           ' + ', '.join(f'{name} {_fmt(v)}'
                                    for name, v in test['per_class_iou'].items())]
  for name, s in summary['slices'].items():
    lines.append(f"  {name + ':':<16} mean IoU {_fmt(s['mean_iou'])}")
  baseline = summary['baseline']
  lines.append('Baseline   ' + (f'mean IoU {_fmt(baseline["mean_iou"])}  {baseline["model_path"]}'
                                if baseline else 'none (no model blessed before)'))
  if summary['blessed']:
    lines.append('Blessed    yes')
  else:
    lines.append('Blessed    no: ' + '; '.join(summary['reasons']))
  lines.append(f'Pushed     {summary["pushed"] or "no"}')
  return lines


def write(summary: Dict[str, Any], path: str) -> None:
  with open(path, 'w') as f:
    json.dump(summary, f, indent=2)
