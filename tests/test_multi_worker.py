"""The Trainer's multi-worker path, for real: two worker processes on localhost, joined by
TF_CONFIG into one MultiWorkerMirroredStrategy, train on the shared run's Transform output."""
import csv
import json
import os
import socket
import subprocess
import sys

import pytest
import tensorflow as tf

from petseg.components.trainer import component as trainer_component
from petseg.pipeline import metadata
from tests.helpers import trained_output

pytestmark = pytest.mark.slow

# What TFX's Trainer executor does in each worker: call run_fn with the same FnArgs.
_WORKER = '''
import json, sys
from absl import logging
import petseg
from tfx import v1 as tfx
from petseg.models import module_file
logging.set_verbosity(logging.INFO)
module_file.run_fn(tfx.components.FnArgs(**json.loads(sys.argv[1])))
'''


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('localhost', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def test_two_workers_train_one_model_that_the_chief_exports(trained, tmp_path):
  _, store = trained
  examples = trained_output(store, 'Transform', 'transformed_examples')
  config = trainer_component.training_config_of(metadata.executions(store, 'petseg', 'Trainer')[0])
  fn_args = {
      'train_files': [os.path.join(examples, 'Split-train', '*')],
      'eval_files': [os.path.join(examples, 'Split-eval', '*')],
      'transform_output': trained_output(store, 'Transform', 'transform_graph'),
      'serving_model_dir': str(tmp_path / 'serving'),
      'model_run_dir': str(tmp_path / 'run'),
      'custom_config': {**config, 'epochs': 1},
  }
  cluster = {'worker': [f'localhost:{port}' for port in _free_ports(2)]}
  workers = []
  for index in range(2):
    env = {**os.environ, 'TF_CONFIG': json.dumps(
        {'cluster': cluster, 'task': {'type': 'worker', 'index': index}})}
    workers.append(subprocess.Popen(
        [sys.executable, '-c', _WORKER, json.dumps(fn_args)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  logs = [worker.communicate(timeout=600)[0] for worker in workers]
  for index, (worker, log) in enumerate(zip(workers, logs)):
    assert worker.returncode == 0, f'worker {index}:\n{log[-3000:]}'
    # The per-replica batch of 8 becomes a global batch of 16 across the two workers.
    assert '2 replicas in sync, global batch 16' in log, log[-3000:]

  # Only the chief (worker 0) wrote into the run's directories, and what it wrote serves.
  with open(tmp_path / 'run' / 'history.csv') as f:
    assert len(list(csv.DictReader(f))) == 1
  model = tf.saved_model.load(str(tmp_path / 'serving'))
  image = open(sorted((trained[0] / 'data' / 'images').glob('*.jpg'))[0], 'rb').read()
  out = model.signatures['serving_default'](images=tf.constant([image]))
  assert out['class_ids'].shape[0] == 1
