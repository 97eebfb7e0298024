"""The Trainer and Evaluator fold their runtime parameters into TFX's own configs."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest
import tensorflow_model_analysis as tfma
from tfx.utils import proto_utils

from petseg.components.evaluator import component as evaluator
from petseg.components.evaluator import executor as evaluator_executor
from petseg.components.evaluator import results as evaluation_results
from petseg.components.trainer import executor as trainer_executor
from petseg.core import config as config_lib
from petseg.core import labels as labels_lib
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import metadata


def test_training_parameters_replace_the_config_fields():
  folded = trainer_executor.fold_training_parameters({
      'custom_config': json.dumps({'batch_size': 8, 'epochs': 1}), 'run_fn': 'x.run_fn',
      'model_name': 'fcn_vgg16', 'epochs': 12, 'learning_rate': 0.01})
  assert set(folded) == {'custom_config', 'run_fn'}  # TFX's executor sees its own spec
  assert json.loads(folded['custom_config']) == {'batch_size': 8, 'epochs': 12,
                                                 'model': 'fcn_vgg16', 'learning_rate': 0.01}


def test_release_parameters_replace_the_gate_fields_and_set_its_bounds():
  labels = labels_lib.oxford_trimap_labels()
  release = config_lib.ReleaseConfig(min_class_iou={'pet': 0.3})
  config = evaluator.eval_config(labels)
  given = config_lib.without_parameters('release', release.to_json())
  assert 'min_mean_iou' not in given  # each value travels once: here, as its own property
  folded, applied = evaluator_executor.fold_release_parameters({
      'eval_config': proto_utils.proto_to_json(config),
      'release': json.dumps(given), 'min_mean_iou': 0.77})
  assert set(folded) == {'eval_config'}  # TFX's executor sees its own spec
  assert applied == dataclasses.replace(release, min_mean_iou=0.77)
  got = proto_utils.json_to_proto(folded['eval_config'], tfma.EvalConfig())
  expected = evaluator.eval_config(labels)
  evaluator_executor.set_bounds(expected, applied)
  assert got == expected
  bounds = {json.loads(m.config).get('name', m.class_name):
            m.per_slice_thresholds[0].threshold for m in got.metrics_specs[0].metrics
            if m.per_slice_thresholds}
  assert {name: t.value_threshold.lower_bound.value for name, t in bounds.items()} == {
      'MeanIoU': 0.77, 'iou/pet': 0.3}
  # The executor compares with the released model itself, on intervals.
  assert not any(t.HasField('change_threshold') for t in bounds.values())


# core/config.py's table with two more rows, one per section, before anything reads it.
_WITH_MORE_PARAMETERS = '''
import sys
from petseg.core import config
config.RUNTIME_PARAMETERS += (
    config.ParameterDef('batch_size', 'training', 'batch_size', int),
    config.ParameterDef('max_mean_iou_drop', 'release', 'max_mean_iou_drop', float))
from petseg import cli
sys.exit(cli.main(sys.argv[1:]))
'''


def _petseg_with_more_parameters(*args):
  done = subprocess.run([sys.executable, '-c', _WITH_MORE_PARAMETERS, *args],
                        capture_output=True, text=True)
  assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.slow
def test_a_parameter_added_to_the_table_compiles_and_runs(tmp_path, sample_dir):
  """Nothing but the table names them: the compiled spec offers both at submission, and a
  local run folds each into its component's config."""
  common = ['--dataset', 'oxford_pets', '--data-dir', str(sample_dir), '--epochs', '1',
            '--image-size', '32', '--batch-size', '2', '--max-mean-iou-drop', '0.3']
  _petseg_with_more_parameters(
      'compile', '--engine', 'kubeflow', '--output', str(tmp_path / 'spec.json'), '--image',
      'registry.example/petseg:test', '--pipeline-root', 'gs://petseg-test/root', *common)
  spec = json.loads((tmp_path / 'spec.json').read_text())['pipelineSpec']
  offered = spec['root']['inputDefinitions']['parameters']
  assert (offered['batch_size']['parameterType'], offered['batch_size']['defaultValue']) == (
      'NUMBER_INTEGER', 2)
  assert (offered['max_mean_iou_drop']['parameterType'],
          offered['max_mean_iou_drop']['defaultValue']) == ('NUMBER_DOUBLE', 0.3)

  out = tmp_path / 'out'
  _petseg_with_more_parameters('run', '--output-dir', str(out), *common)
  store = metadata.connect(local_runner.metadata_path(str(out)))
  executions = metadata.run_executions(store, 'petseg')
  trainer_run, = metadata.output_artifacts(store, executions['Trainer'].id, 'model_run')
  with open(os.path.join(trainer_run.uri, training.CONFIG_FILE)) as f:
    assert json.load(f)['batch_size'] == 2
  evaluation, = metadata.output_artifacts(store, executions['Evaluator'].id, 'evaluation')
  assert evaluation_results.applied_gate(evaluation.uri).max_mean_iou_drop == 0.3
  # Each is an execution property of its own component, folded into its config at run time.
  assert 'batch_size' in executions['Trainer'].custom_properties
  assert 'max_mean_iou_drop' in executions['Evaluator'].custom_properties
