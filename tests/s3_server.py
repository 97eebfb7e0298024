"""A real S3 API server on localhost for the tests: moto's server mode, in its own
process. Each test that uses it makes its own buckets."""
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from typing import Dict, Iterator, Optional

import boto3

ACCESS_KEY = 'petseg-test-key'
SECRET_KEY = 'petseg-test-secret'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@contextlib.contextmanager
def serve(unauthenticated_actions: Optional[int] = None) -> Iterator[Dict[str, str]]:
  """Runs the server while in the block; yields the environment that reaches it (the
  standard AWS variables core/storage.py reads). With `unauthenticated_actions`, the
  server checks every request after that many against the IAM policies of the key's user
  (moto's INITIAL_NO_AUTH_ACTION_COUNT)."""
  port = _free_port()
  env = dict(os.environ)
  if unauthenticated_actions is not None:
    env['INITIAL_NO_AUTH_ACTION_COUNT'] = str(unauthenticated_actions)
  process = subprocess.Popen([sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p',
                              str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=env)
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


@contextlib.contextmanager
def serve_profile(namespace: str) -> Iterator[Dict[str, str]]:
  """A server holding Kubeflow's bucket, mlpipeline, reached with the keys a multi-user
  install gives a profile from 2.15: put, get and list under its prefixes only, no delete
  (the profile controller's policy, manifests/kustomize/base/installs/multi-user/
  pipelines-profile-controller/sync.py). Yields the environment with those keys."""
  with serve(unauthenticated_actions=4) as env:  # the four set-up calls below
    client(env).create_bucket(Bucket='mlpipeline')
    iam = boto3.client('iam', endpoint_url=env['AWS_ENDPOINT_URL'], region_name='us-east-1',
                       aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    iam.create_user(UserName=namespace)
    iam.put_user_policy(UserName=namespace, PolicyName=f'KubeflowProject{namespace}',
                        PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{
                            'Effect': 'Allow', 'Action': ['s3:Put*', 's3:Get*', 's3:List*'],
                            'Resource': [f'arn:aws:s3:::mlpipeline/{prefix}/*' for prefix in (
                                'artifacts', f'private-artifacts/{namespace}',
                                f'private/{namespace}', 'shared')]}]}))
    key = iam.create_access_key(UserName=namespace)['AccessKey']
    yield {**env, 'AWS_ACCESS_KEY_ID': key['AccessKeyId'],
           'AWS_SECRET_ACCESS_KEY': key['SecretAccessKey']}


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
