"""bench/gpu.py, which no GPU here can measure: its no-GPU answer, and its steps run on
the CPU so that the script a GPU machine runs is known to work."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests import helpers

BENCH = pathlib.Path(__file__).resolve().parents[1] / 'bench' / 'gpu.py'


def _run(*args, **env):
  return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                        env={**os.environ, **env}, timeout=900)


def test_without_a_gpu_it_says_so_and_measures_nothing():
  result = _run(CUDA_VISIBLE_DEVICES='-1')
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'bench/gpu.py: no GPU is visible to TensorFlow here; nothing was measured' in \
      result.stderr
  last = json.loads(result.stdout.strip().splitlines()[-1])
  assert last == {'bench': 'gpu', 'ours': None, 'baseline': None, 'ratio': None,
                  'skipped': 'no GPU'}


@pytest.mark.slow
def test_its_steps_run_on_the_cpu_in_both_precisions():
  helpers.shared_data('oxford-pets-sample')
  result = _run('--device', 'cpu', '--epochs', '2', '--steps', '2', CUDA_VISIBLE_DEVICES='-1')
  assert result.returncode == 0, result.stderr[-3000:]
  last = json.loads(result.stdout.strip().splitlines()[-1])
  assert [r['policy'] for r in last['results']] == ['float32', 'mixed_float16']
  for measured in last['results']:
    assert measured['images_per_second'] > 0 and measured['peak_gpu_memory_mb'] is None
    # The same process and device: the CPU serves the masks the model served here.
    assert measured['masks_identical_on_cpu'] and measured['mask_pixels_agreeing'] == 1.0
