"""bench/gpu.py, which no GPU here can measure: its no-GPU answer. (`--device cpu` runs
its steps on the CPU, in both precisions, to check the script; at 10 minutes on 2 cores
that is too long for the suite.)"""
import json
import os
import pathlib
import subprocess
import sys

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

