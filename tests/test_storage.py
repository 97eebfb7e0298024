"""Object stores (core/storage.py): the launcher's local copies and the URIs they stand
for, minio:// read as s3://, and the exit of a process that used tensorflow-io's S3."""
import os
import subprocess
import sys

from petseg.core import storage


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
