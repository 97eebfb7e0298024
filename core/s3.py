"""S3 through boto3, configured from the standard AWS environment (core/storage.py): a
client, an error's code, and why a path cannot be reached, found before a command starts.

tensorflow-io's file system answers a wrong key, a missing bucket and an endpoint that
does not answer alike, as a path that does not exist, and the last only after about a
minute of retries. `problem()` asks the store once, waiting CONNECT_TIMEOUT_SECONDS for a
connection, and names the cause.
"""
import os
from typing import Optional

CONNECT_TIMEOUT_SECONDS = 3
_READ_TIMEOUT_SECONDS = 20
_DENIED = ('AccessDenied', '403', 'Forbidden')
_KEYS_REFUSED = ('InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken',
                 'ExpiredToken')


def client(probe: bool = False):
  """A boto3 S3 client; for a probe, one try with the timeouts above."""
  import boto3  # pylint: disable=g-import-not-at-top  (only where a path is on S3)
  from botocore import config  # pylint: disable=g-import-not-at-top
  settings = (config.Config(connect_timeout=CONNECT_TIMEOUT_SECONDS,
                            read_timeout=_READ_TIMEOUT_SECONDS,
                            retries={'max_attempts': 1, 'mode': 'standard'})
              if probe else None)
  return boto3.client('s3', region_name=os.environ.get('AWS_REGION')
                      or os.environ.get('AWS_DEFAULT_REGION'), config=settings)


def code(error: Exception) -> str:
  """The S3 error code of a botocore ClientError ('' for another error)."""
  return getattr(error, 'response', {}).get('Error', {}).get('Code', '')


def problem(uri: str) -> Optional[str]:
  """Why s3://BUCKET/KEY `uri` cannot be listed, in words: the endpoint does not answer,
  the keys are refused or not allowed there, or there is no such bucket. None otherwise
  (a missing KEY is no problem: a folder on S3 exists once something is in it)."""
  from botocore import exceptions  # pylint: disable=g-import-not-at-top
  bucket, _, key = uri[len('s3://'):].partition('/')
  endpoint = os.environ.get('AWS_ENDPOINT_URL') or 'AWS S3'
  try:
    client(probe=True).list_objects_v2(
        Bucket=bucket, Prefix=key.rstrip('/') + '/' if key.strip('/') else '', MaxKeys=1)
  except (exceptions.EndpointConnectionError, exceptions.ConnectTimeoutError,
          exceptions.ReadTimeoutError) as e:
    return (f'the store does not answer ({endpoint}: {type(e).__name__}, after waiting '
            f'{CONNECT_TIMEOUT_SECONDS} s to connect); check AWS_ENDPOINT_URL')
  except exceptions.NoCredentialsError:
    return 'no keys to sign with; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'
  except exceptions.ClientError as e:
    found = code(e)
    if found in _KEYS_REFUSED:
      return (f'the store refuses the keys ({found}); check AWS_ACCESS_KEY_ID and '
              'AWS_SECRET_ACCESS_KEY')
    if found in _DENIED:
      return (f'access denied ({found}): the keys in AWS_ACCESS_KEY_ID may not list '
              f'{uri}')
    if found == 'NoSuchBucket':
      return f'no such bucket: {bucket}'
  return None  # any other answer: the command's own reads and writes will tell
