"""The Beam steps beyond the DirectRunner: the whole pipeline through Beam's PortableRunner,
against Beam's own Python job service running two SDK worker processes, gives the records,
transformed data and metrics of the in-process DirectRunner.

Nothing of ours may rely on sharing the submitting process (globals, local files written by
one step and read by another in memory, unpicklable closures): here each Beam step's work
runs in worker processes that the job service starts, as on Flink, Spark or Dataflow.
"""
import glob
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from petseg import cli
from petseg.pipeline import local_runner
from petseg.pipeline import metadata
from petseg.pipeline import pipeline as pipeline_lib
from petseg.records import summary as run_summary
from tests.helpers import QUICK, read_records

pytestmark = pytest.mark.slow
_WORKER = 'apache_beam.runners.worker.sdk_worker_main'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@pytest.fixture(scope='module')
def job_service():
  """Beam's Python job service in a process of its own: its address."""
  port = _free_port()
  service = subprocess.Popen(
      [sys.executable, '-m', 'apache_beam.runners.portability.local_job_service_main',
       '-p', str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 120
  while True:
    assert service.poll() is None, 'the job service exited'
    assert time.monotonic() < deadline, 'the job service did not start in 120 s'
    try:
      socket.create_connection(('localhost', port), timeout=1).close()
      break
    except OSError:
      time.sleep(0.2)
  yield f'localhost:{port}'
  service.kill()
  service.wait()


class _Workers(threading.Thread):
  """Counts the SDK worker processes that run at once, from /proc, every 0.1 s."""

  def __init__(self):
    super().__init__(daemon=True)
    self.most, self._done = 0, threading.Event()

  def run(self):
    while not self._done.is_set():
      running = 0
      for cmdline in glob.glob('/proc/[0-9]*/cmdline'):
        try:
          with open(cmdline, 'rb') as f:
            running += _WORKER.encode() in f.read()
        except OSError:
          continue  # the process ended meanwhile
      self.most = max(self.most, running)
      self._done.wait(0.1)

  def stop(self):
    self._done.set()
    self.join()


def _outputs(out):
  """(node, key) -> the output artifact of the latest run in `out`."""
  store = metadata.connect(local_runner.metadata_path(str(out)))
  executions = metadata.latest_executions(store, pipeline_lib.PIPELINE_NAME)

  def output(node, key):
    artifact, = metadata.output_artifacts(store, executions[node].id, key)
    return artifact
  return output


def _features(examples_uri, split):
  """A split's examples as sorted (bytes features, float features) pairs."""
  examples = []
  for example in read_records(examples_uri, split):
    feature = example.features.feature
    examples.append((sorted((k, tuple(v.bytes_list.value), tuple(v.int64_list.value))
                            for k, v in feature.items()),
                     sorted((k, tuple(v.float_list.value)) for k, v in feature.items())))
  return sorted(examples)


def _same_records(a_uri, b_uri, split):
  """Equal bytes and integers; floats equal up to the order of a sum (Transform's means are
  combined from the workers' partial sums in whatever order they arrive)."""
  a, b = _features(a_uri, split), _features(b_uri, split)
  assert [exact for exact, _ in a] == [exact for exact, _ in b]
  for (_, floats_a), (_, floats_b) in zip(a, b):
    assert [k for k, _ in floats_a] == [k for k, _ in floats_b]
    for (_, x), (_, y) in zip(floats_a, floats_b):
      np.testing.assert_allclose(x, y, rtol=1e-5)


def test_portable_runner_with_two_workers_matches_the_direct_runner(
    job_service, quick_run, tmp_path):
  direct = _outputs(quick_run.out)
  workers = _Workers()
  workers.start()
  out = tmp_path / 'portable'
  assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(quick_run.data),
                   '--output-dir', str(out), *QUICK, '--',
                   '--runner=PortableRunner', f'--job_endpoint={job_service}',
                   '--environment_type=beam:env:harness_subprocess_python:v1',
                   f'--environment_config={sys.executable} -m {_WORKER}',
                   '--direct_running_mode=multi_processing', '--direct_num_workers=2']) == 0
  portable = _outputs(out)
  workers.stop()
  assert workers.most >= 2

  for node, key in (('ExampleGen', 'examples'), ('Transform', 'transformed_examples')):
    for split in ('train', 'eval', 'test'):
      _same_records(direct(node, key).uri, portable(node, key).uri, split)
  # The transform graph: the same analysed constants, the same output schema.
  graphs = [tf.io.gfile.GFile(os.path.join(run('Transform', 'transform_graph').uri,
                                           'transformed_metadata', 'schema.pbtxt')).read()
            for run in (direct, portable)]
  assert graphs[0] == graphs[1]
  statistics = [run('StatisticsGen', 'statistics') for run in (direct, portable)]
  assert all(os.listdir(s.uri) for s in statistics)
  # The same model (seeded training on the same transformed data), the same metrics.
  summaries = [run_summary.read(run('ReleaseRecord', 'summary').uri)
               for run in (direct, portable)]
  # The same intervals too: the bootstrap's draws do not depend on the runner.
  scores = [{'overall': summary.test, **summary.slices} for summary in summaries]
  assert scores[0] == scores[1]
