"""A lock in an S3 bucket, from S3's conditional writes (AWS S3 since 2024, MinIO, moto):
the lock is an object created only if absent (PUT with If-None-Match: *).

Its holder renews it every RENEW_SECONDS (PUT with If-Match: its own ETag); one left by a
holder that died is stale once it is LEASE_SECONDS old by the store's own clock (its
Last-Modified against the Date of the store's answer), and the next taker takes it over
only if it is still that same object (PUT with If-Match: its ETag). The holder deletes it
at release (DELETE with If-Match); where its keys may not delete (a multi-user Kubeflow
profile's may only put, get and list), it marks it released instead (PUT with If-Match),
which the next taker takes over at once. A holder that could not renew in time (stalled
for a whole lease) finds out at release and says so.

The store is reached with boto3 (core/s3.py).
"""
import contextlib
import email.utils
import json
import threading
import time
from typing import Iterator, Optional, Tuple

from petseg.core import errors
from petseg.core import s3

LEASE_SECONDS = 60.0
RENEW_SECONDS = 15.0
_REFUSED = ('PreconditionFailed', 'ConditionalRequestConflict')


def _stale(client, bucket: str, key: str) -> Tuple[Optional[str], str, bool]:
  """(ETag, holder, free) of the lock object: free when released or stale; ETag None
  when it is gone."""
  from botocore import exceptions  # pylint: disable=g-import-not-at-top
  try:
    answer = client.get_object(Bucket=bucket, Key=key)
  except exceptions.ClientError as e:
    if s3.code(e) in ('NoSuchKey', '404'):
      return None, '', False
    raise
  content = json.loads(answer['Body'].read() or b'{}')
  now = email.utils.parsedate_to_datetime(answer['ResponseMetadata']['HTTPHeaders']['date'])
  age = (now - answer['LastModified']).total_seconds()
  return (answer['ETag'], content.get('holder', 'unknown'),
          bool(content.get('released')) or age > LEASE_SECONDS)


def _release(client, bucket: str, key: str, etag: str, holder: str) -> None:
  """Deletes the lock if it is still ours; marks it released where deleting is refused."""
  from botocore import exceptions  # pylint: disable=g-import-not-at-top
  try:
    client.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
  except exceptions.ClientError as e:
    if s3.code(e) != 'AccessDenied':
      return  # no longer ours (taken over after a stall): nothing to release
    with contextlib.suppress(exceptions.ClientError):
      client.put_object(Bucket=bucket, Key=key, IfMatch=etag,
                        Body=json.dumps({'holder': holder, 'released': True}).encode())


@contextlib.contextmanager
def held(uri: str, holder: str, wait_seconds: float = 1800.0) -> Iterator[None]:
  """Holds the lock object at s3://BUCKET/KEY `uri` while in the block, as `holder` (who
  waiters are told holds it); ReleaseError naming the holder after `wait_seconds` of
  waiting."""
  from botocore import exceptions  # pylint: disable=g-import-not-at-top
  bucket, _, key = uri[len('s3://'):].partition('/')
  client = s3.client()
  body = json.dumps({'holder': holder}).encode()
  deadline = time.monotonic() + wait_seconds
  while True:
    try:
      etag = client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch='*')['ETag']
      break
    except exceptions.ClientError as e:
      if s3.code(e) not in _REFUSED:
        raise errors.ReleaseError(f'{uri}: cannot take the release registry\'s lock '
                                  f'({s3.code(e) or e}); nothing was changed') from None
    other, holding, free = _stale(client, bucket, key)
    if other and free:  # released, or its holder died: take it over unless it was renewed
      try:
        etag = client.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=other)['ETag']
        break
      except exceptions.ClientError as e:
        if s3.code(e) not in (*_REFUSED, 'NoSuchKey'):
          raise errors.ReleaseError(f'{uri}: cannot take the release registry\'s lock '
                                    f'({s3.code(e) or e}); nothing was changed') from None
      continue
    if time.monotonic() > deadline:
      raise errors.ReleaseError(f'{uri}: the release registry is locked by {holding}; '
                                'nothing was changed: try again when it is done')
    time.sleep(1.0)
  lost = threading.Event()
  done = threading.Event()

  def renew():
    nonlocal etag
    while not done.wait(RENEW_SECONDS):
      try:
        etag = client.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=etag)['ETag']
      except exceptions.ClientError:
        lost.set()
        return

  renewer = threading.Thread(target=renew, daemon=True)
  renewer.start()
  try:
    yield
  finally:
    done.set()
    renewer.join()
    if not lost.is_set():
      _release(client, bucket, key, etag, holder)
  if lost.is_set():
    raise errors.ReleaseError(f'{uri}: the lock was lost while held (this process stalled '
                              f'for over {LEASE_SECONDS:.0f} s); check the registry with '
                              'petseg releases')
