"""Where paths live (core/storage.py): the Store of each path and what it can do, the
launcher's local copies and the URIs they stand for, minio:// read as s3://, and the exit
of a process that used tensorflow-io's S3."""
import fcntl
import logging
import os
import subprocess
import sys
import time

import pytest

from petseg.core import errors
from petseg.core import progress
from petseg.core import s3 as s3_client
from petseg.core import storage
from tests import s3_server


def test_a_local_copy_and_its_uri_are_each_others(monkeypatch, tmp_path):
  monkeypatch.setenv(storage.LOCAL_ROOT_ENV, str(tmp_path))
  for uri in ('minio://mlpipeline/v2/run/Trainer/model', 'gs://b/x/y', 's3://b/k'):
    copy = storage.local_copy(uri)
    assert copy.startswith(str(tmp_path) + os.sep)
    assert storage.durable(copy) == uri
    assert storage.openable(uri) == (uri.replace('minio://', 's3://'))  # no copy yet
    os.makedirs(copy)
    assert storage.openable(uri) == copy  # a step reads the copy it was given
  assert storage.durable(str(tmp_path / 'elsewhere')) == str(tmp_path / 'elsewhere')


def test_outside_a_step_on_copies_paths_are_what_they_say(monkeypatch):
  monkeypatch.delenv(storage.LOCAL_ROOT_ENV, raising=False)
  assert storage.durable('/minio/b/k') == '/minio/b/k'
  assert storage.openable('minio://b/k') == 's3://b/k'
  assert storage.openable('gs://b/k') == 'gs://b/k'
  assert storage.openable('/data/x') == '/data/x'


def test_a_process_that_used_s3_ends_with_its_own_status(s3):
  """tensorflow-io's S3 file system aborts the process at exit (C++ destructors);
  storage.exit ends it before them, with the status it was given."""
  env, client = s3
  client.create_bucket(Bucket='exit-test')
  script = ('import sys; from petseg.core import storage; storage.register(); '
            'import tensorflow as tf; tf.io.gfile.exists("s3://exit-test/x"); '
            'storage.exit(int(sys.argv[1])) if sys.argv[2] == "petseg" else None')

  def run(*args):
    return subprocess.run([sys.executable, '-c', script, *args], env={**os.environ, **env},
                          capture_output=True, text=True, check=False)

  plain = run('0', 'plain')
  assert plain.returncode != 0 and 'pure virtual method called' in plain.stderr
  assert run('0', 'petseg').returncode == 0
  assert run('3', 'petseg').returncode == 3


def test_each_path_has_one_store_that_says_what_it_can_do():
  assert storage.of('/data/pets') is storage.LOCAL and storage.of('relative/dir').local
  assert storage.of('s3://bucket/key') is storage.of('minio://mlpipeline/x') is storage.S3
  assert storage.of('gs://bucket/key') is storage.GCS
  assert storage.LOCAL.atomic_rename and not storage.S3.atomic_rename
  assert storage.S3.lock == 'conditional put' and storage.GCS.lock is None
  assert storage.of('relative/dir').absolute('relative/dir') == os.path.abspath('relative/dir')
  assert storage.S3.absolute('s3://b/k') == 's3://b/k'
  assert storage.in_cluster_store('minio://mlpipeline/x')
  assert not storage.in_cluster_store('s3://mlpipeline/x')


def test_a_scheme_no_store_takes_is_one_line():
  with pytest.raises(errors.ConfigError, match=r'^hdfs://nn/x: no store takes hdfs:// paths'):
    storage.of('hdfs://nn/x')


def test_a_store_without_a_lock_says_so_in_one_line_and_goes_on(caplog):
  with caplog.at_level(logging.WARNING, logger=progress.LOGGER.name):
    with storage.GCS.held('gs://bucket/serving/.petseg-registry.lock', 'me'):
      pass
  said, = [r.getMessage() for r in caplog.records if r.name == progress.LOGGER.name]
  assert said.startswith('gs://bucket/serving/.petseg-registry.lock: Google Cloud Storage has '
                         'no lock') and '\n' not in said


def test_a_local_lock_is_held_by_one_holder_at_a_time(tmp_path):
  path = str(tmp_path / 'lock')
  with storage.LOCAL.held(path, 'me'):
    fd = os.open(path, os.O_RDWR)
    try:
      with pytest.raises(BlockingIOError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
      os.close(fd)
  with pytest.raises(errors.ReleaseError, match='cannot take the lock'):
    with storage.LOCAL.held(str(tmp_path / 'no such dir' / 'lock'), 'me'):
      pass


def test_a_whole_write_leaves_the_old_file_or_the_new_one(tmp_path):
  path = str(tmp_path / 'index.html')
  storage.of(path).write_whole(path, 'old')
  storage.of(path).write_whole(path, 'new')
  assert open(path).read() == 'new' and os.listdir(tmp_path) == ['index.html']


def _said(capsys, monkeypatch, env, *args):
  """petseg's exit code and error for `args`, run with the AWS environment `env`."""
  import boto3  # pylint: disable=g-import-not-at-top
  from petseg import cli  # pylint: disable=g-import-not-at-top
  for name, value in env.items():
    monkeypatch.setenv(name, value)
  monkeypatch.setattr(boto3, 'DEFAULT_SESSION', None)  # it keeps the first keys it read
  capsys.readouterr()
  code = cli.main(list(args))
  return code, capsys.readouterr().err


def test_an_object_store_that_cannot_be_reached_is_named_with_its_cause(
    s3, tmp_path, capsys, monkeypatch):
  """Each cause in one line naming the flag: no such bucket, an endpoint that does not
  answer (within seconds, not after a minute of retries), keys refused, access denied."""
  env, client = s3
  assert _said(capsys, monkeypatch, env, 'releases', '--serving-dir', 's3://absent/serving') == (
      1, 'petseg: error: --serving-dir s3://absent/serving: no such bucket: absent\n')
  assert _said(capsys, monkeypatch, env, 'run', '--dataset', 'oxford_pets', '--data-dir',
               's3://absent/data', '--output-dir', str(tmp_path / 'out')) == (
      1, 'petseg: error: --data-dir s3://absent/data: no such bucket: absent\n')
  assert _said(capsys, monkeypatch, env, 'predict', '--model-dir', 's3://absent/serving',
               str(tmp_path / 'x.jpg'), '--output-dir', str(tmp_path / 'masks')) == (
      1, 'petseg: error: --model-dir s3://absent/serving: no such bucket: absent\n')
  assert not (tmp_path / 'masks').exists()
  client.create_bucket(Bucket='there')  # the store answers; the registry is not there yet
  assert _said(capsys, monkeypatch, env, 'releases', '--serving-dir', 's3://there/serving') == (
      1, 'petseg: error: s3://there/serving: no such serving directory\n')
  closed = f'http://127.0.0.1:{s3_server._free_port()}'  # pylint: disable=protected-access
  started = time.monotonic()
  code, err = _said(capsys, monkeypatch, {**env, 'AWS_ENDPOINT_URL': closed}, 'releases',
                    '--serving-dir', 's3://bucket/serving')
  assert (code, err) == (1, f'petseg: error: --serving-dir s3://bucket/serving: the store '
                         f'does not answer ({closed}: EndpointConnectionError, after waiting '
                         f'{s3_client.CONNECT_TIMEOUT_SECONDS} s to connect); check '
                         'AWS_ENDPOINT_URL\n')
  assert time.monotonic() - started < 10
  with s3_server.serve_profile('team-a') as profile:
    outside = 's3://mlpipeline/serving'  # the profile's keys may list only its prefixes
    assert _said(capsys, monkeypatch, profile, 'releases', '--serving-dir', outside) == (
        1, f'petseg: error: --serving-dir {outside}: access denied (AccessDenied): the keys '
        f'in AWS_ACCESS_KEY_ID may not list {outside}\n')
    wrong = {**profile, 'AWS_SECRET_ACCESS_KEY': 'not-the-secret'}
    inside = 's3://mlpipeline/private/team-a/serving'
    assert _said(capsys, monkeypatch, wrong, 'releases', '--serving-dir', inside) == (
        1, f'petseg: error: --serving-dir {inside}: the store refuses the keys '
        '(SignatureDoesNotMatch); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n')

