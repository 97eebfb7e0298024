"""A real S3 API server on localhost for the tests: moto's server mode, in its own
process. Each test that uses it makes its own buckets."""
import contextlib
import os
import socket
import subprocess
import sys
import time
from typing import Dict, Iterator

import boto3

ACCESS_KEY = 'petseg-test-key'
SECRET_KEY = 'petseg-test-secret'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@contextlib.contextmanager
def serve() -> Iterator[Dict[str, str]]:
  """Runs the server while in the block; yields the environment that reaches it (the
  standard AWS variables core/storage.py reads)."""
  port = _free_port()
  process = subprocess.Popen([sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p',
                              str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  env = {'AWS_ENDPOINT_URL': f'http://127.0.0.1:{port}', 'AWS_ACCESS_KEY_ID': ACCESS_KEY,
         'AWS_SECRET_ACCESS_KEY': SECRET_KEY, 'AWS_REGION': 'us-east-1'}
  try:
    deadline = time.monotonic() + 30
    while True:
      try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        break
      except OSError:
        if time.monotonic() > deadline or process.poll() is not None:
          raise RuntimeError('the S3 server (moto) did not start') from None
        time.sleep(0.2)
    yield env
  finally:
    process.terminate()
    process.wait(timeout=30)


def client(env: Dict[str, str]):
  return boto3.client('s3', endpoint_url=env['AWS_ENDPOINT_URL'],
                      aws_access_key_id=env['AWS_ACCESS_KEY_ID'],
                      aws_secret_access_key=env['AWS_SECRET_ACCESS_KEY'],
                      region_name=env['AWS_REGION'])


def stage(s3, local: str, data_bucket: str, prefix: str, *other_buckets: str) -> None:
  """Makes the buckets and copies a local folder into `data_bucket` under `prefix`."""
  for bucket in (data_bucket, *other_buckets):
    s3.create_bucket(Bucket=bucket)
  for folder, _, files in os.walk(local):
    for name in files:
      path = os.path.join(folder, name)
      s3.upload_file(path, data_bucket, f'{prefix}/{os.path.relpath(path, local)}')
