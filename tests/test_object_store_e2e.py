"""`petseg run` and `petseg predict` on this machine with an S3 server on localhost as the
only store: the data, the pipeline root and the release registry all in its buckets, the
commands run as users run them (the `petseg` program, configured by the standard AWS
environment). Only ML Metadata, the lock and the log stay in the local output folder."""
import json
import os
import subprocess

import pytest

from tests import s3_server

pytestmark = pytest.mark.slow


def _petseg(env, *args):
  return subprocess.run(['petseg', *args], env={**os.environ, **env}, capture_output=True,
                        text=True, check=False)


@pytest.fixture(scope='module')
def released(s3, sample_dir, tmp_path_factory):
  env, client = s3
  s3_server.stage(client, str(sample_dir), 'local-data', 'pets', 'local-root', 'local-serving')
  out = tmp_path_factory.mktemp('s3-run')
  result = _petseg(env, 'run', '--dataset', 'oxford_pets', '--data-dir', 's3://local-data/pets',
                   '--pipeline-root', 's3://local-root/petseg', '--serving-dir',
                   's3://local-serving/petseg', '--output-dir', str(out / 'run'),
                   '--image-size', '64', '--epochs', '2', '--batch-size', '8',
                   '--min-mean-iou', '0')
  assert result.returncode == 0, result.stdout + result.stderr
  return env, client, out


def test_a_local_run_reads_and_writes_only_the_object_store(released):
  _, client, out = released
  keys = [o['Key'] for o in client.list_objects_v2(Bucket='local-serving')['Contents']]
  assert 'petseg/1/saved_model.pb' in keys and 'petseg/1/assets.extra/release.json' in keys
  record = json.loads(client.get_object(
      Bucket='local-serving', Key='petseg/1/assets.extra/release.json')['Body'].read())
  assert record['model_path'].startswith('s3://local-root/petseg/Trainer/model/')
  assert record['test_examples'].startswith('s3://local-root/petseg/ExampleGen/examples/')
  assert record['serving_dir'] == 's3://local-serving/petseg'
  # The artifacts are in the bucket; the output folder holds only the run's own files.
  assert {'metadata.sqlite', 'petseg.log', 'report.html', 'run_summary.json'} <= set(
      os.listdir(out / 'run'))
  assert not [path for path in (out / 'run').iterdir() if path.is_dir()]


def test_predict_reads_the_released_model_from_the_registry_in_the_store(released,
                                                                         sample_dir):
  env, _, out = released
  image = sorted((sample_dir / 'images').iterdir())[0]
  result = _petseg(env, 'predict', '--model-dir', 's3://local-serving/petseg', str(image),
                   '--output-dir', str(out / 'predicted'))
  assert result.returncode == 0, result.stdout + result.stderr
  assert 'Release: version 1' in result.stdout
  assert (out / 'predicted' / f'{image.stem}_mask.png').exists()


def test_an_unreachable_store_is_one_line_naming_the_flag(released, tmp_path):
  env = {**released[0], 'AWS_SECRET_ACCESS_KEY': 'wrong'}
  result = _petseg(env, 'run', '--dataset', 'oxford_pets', '--data-dir',
                   's3://no-such-bucket/pets', '--output-dir', str(tmp_path / 'out'))
  assert result.returncode == 1
  error, = result.stderr.strip().splitlines()
  assert error.startswith('petseg: error: --data-dir s3://no-such-bucket/pets: ')
