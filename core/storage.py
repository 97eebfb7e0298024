"""Where a run's files live: local paths, `gs://`, and `s3://` (AWS S3, MinIO, any
S3-compatible store), with `minio://` (Kubeflow's name for its MinIO bucket) read as `s3://`.

Two file systems open them, each a maintained plugin configured from the same standard
AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, and
AWS_ENDPOINT_URL for a store other than AWS, e.g. http://minio-service.kubeflow:9000):

- TensorFlow's (tf.io.gfile, and TFX's fileio on it): tensorflow-io's S3 file system,
  registered by `register()`, which names the endpoint as tensorflow-io reads it
  (S3_ENDPOINT);
- Beam's (the records ExampleGen writes and the Beam steps read): Beam's own S3 file
  system (boto3), which reads the environment itself.

Once tensorflow-io's S3 file system has been used, the process must not run its C++
static destructors: they abort (`pure virtual method called`) after the work is done,
which would turn a finished step or command into a failure. `exit()` ends such a process
without them.

`of(path)` is the one seam: the `Store` that holds a path, which says what it can do
(open with the OS, rename a directory in one step, take turns with a lock) and does it.
It also makes the store openable in the process that asks (tensorflow-io's S3 file system
is registered on the first s3:// path), so that nothing else tests a scheme or registers
a file system; a Kubeflow step, whose paths TFX opens, asks for it once at its start
(`register()`).

Kubeflow's open-source launcher copies artifacts to and from local paths in the pod
(/minio/BUCKET/KEY, /gcs/..., /s3/...). `local_copy()` says where; `durable()` turns such a
path back into the URI someone can open after the run, for the records a step writes.
"""
import contextlib
import dataclasses
import fcntl
import os
import sys
import uuid
from typing import IO, Iterator, Optional, Tuple

from petseg.core import errors
from petseg.core import progress
from petseg.core import s3
from petseg.core import s3_lock

# The schemes the open-source launcher copies, and the folder of its local copies.
LOCAL_MOUNTS = {'gs://': 'gcs', 'minio://': 'minio', 's3://': 's3'}
# The root of those local copies: '/' in a pod. Set (by the step's entrypoint) only
# while a step works on them; tests point it at a temporary directory.
LOCAL_ROOT_ENV = 'PETSEG_KFP_LOCAL_ROOT'
ENDPOINT_ENV = 'AWS_ENDPOINT_URL'
_TFIO_ENDPOINT_ENV = 'S3_ENDPOINT'


MINIO_SCHEME = 'minio://'  # Kubeflow's name for the cluster's own store


@dataclasses.dataclass(frozen=True)
class Store:
  """Where a path lives, and what that store can do."""
  name: str  # as the README names it
  schemes: Tuple[str, ...]  # () for the local file system
  local: bool  # opened by the operating system: os.path, os.rename, file:// links
  atomic_rename: bool  # a directory is renamed in one step (objects are copied one by one)
  lock: Optional[str]  # how writers take turns: 'flock', 'conditional put', or None

  def absolute(self, path: str) -> str:
    return os.path.abspath(path) if self.local else path

  @contextlib.contextmanager
  def held(self, path: str, holder: str) -> Iterator[None]:
    """Holds the lock at `path` (an advisory flock, or an object created only if absent:
    core/s3_lock.py). On a store with none, says so in one line and goes on unlocked."""
    if self.lock == 'conditional put':
      with s3_lock.held(openable(path), holder):
        yield
      return
    if self.lock is None:
      progress.LOGGER.warning('%s: %s has no lock: another writer at the same time could '
                              'interleave (one writer at a time there)', path, self.name)
      yield
      return
    try:
      fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise errors.ReleaseError(f'{path}: cannot take the lock ({e.strerror}); nothing '
                                'was changed') from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX)  # waits for the other holder; the kernel frees it on death
      yield
    finally:
      os.close(fd)

  def write_whole(self, path: str, text: str) -> None:
    """Writes `path` so that a reader sees the old file or the new one, never a part: a
    rename over it on a local file system; one object written in one request on an
    object store."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if not self.local:
      with tf.io.gfile.GFile(openable(path), 'w') as f:
        f.write(text)
      return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with replacing(path, 'w') as f:
      f.write(text)


@contextlib.contextmanager
def replacing(path: str, mode: str = 'wb') -> Iterator[IO]:
  """A new file to write local `path` with: written beside it and renamed over it when the
  block ends without an error (removed if it raises), so that a reader sees the old file
  or the new one, and a link at `path` is replaced, never written through."""
  partial = os.path.join(os.path.dirname(path) or '.', f'.partial-{uuid.uuid4().hex}')
  try:
    with open(partial, mode, **({} if 'b' in mode else {'encoding': 'utf-8'})) as f:
      yield f
    os.replace(partial, path)
  finally:
    if os.path.exists(partial):
      os.remove(partial)


LOCAL = Store('the local file system', (), local=True, atomic_rename=True, lock='flock')
S3 = Store('S3', ('s3://', MINIO_SCHEME), local=False, atomic_rename=False,
           lock='conditional put')
GCS = Store('Google Cloud Storage', ('gs://',), local=False, atomic_rename=False, lock=None)
STORES = (S3, GCS)


def in_cluster_store(path: str) -> bool:
  """Whether `path` names the Kubeflow cluster's own store (minio://), whichever that is."""
  return path.startswith(MINIO_SCHEME)


def of(path: str) -> Store:
  """The store that holds `path`, openable in this process from now on; ConfigError for
  a scheme no store takes."""
  for store in STORES:
    if path.startswith(store.schemes):
      if store is S3:
        register()
      return store
  if '://' in path:
    raise errors.ConfigError(f'{path}: no store takes {path.split("://")[0]}:// paths '
                             '(local paths, s3://, minio:// and gs:// are taken)')
  return LOCAL


def reachable(path: str, flag: str) -> str:
  """`path`, given as `flag`, if its store answers; ConfigError naming the flag, the path
  and the cause otherwise. An S3 path is probed once (core/s3.py: the endpoint does not
  answer within s3.CONNECT_TIMEOUT_SECONDS, the keys are refused or may not list there,
  no such bucket); other stores' errors name their cause where they occur."""
  if of(path) is S3:
    problem = s3.problem(openable(path))
    if problem:
      raise errors.ConfigError(f'{flag} {path}: {problem}')
  return path


def openable(uri: str) -> str:
  """Where this process opens `uri`: the launcher's local copy while a step works on
  copies and has one; otherwise `uri`, with minio://BUCKET/KEY as s3://BUCKET/KEY."""
  copy = local_copy(uri) if os.environ.get(LOCAL_ROOT_ENV) else None
  if copy and os.path.exists(copy):
    return copy
  if uri.startswith(S3.schemes):
    register()
  return 's3://' + uri[len(MINIO_SCHEME):] if uri.startswith(MINIO_SCHEME) else uri


def register() -> None:
  """Lets TensorFlow open s3:// (tensorflow-io's file system plugin); idempotent. `of()`
  calls it on the first s3:// path; a process whose paths TFX opens (a Kubeflow step)
  calls it at its start."""
  if os.environ.get(ENDPOINT_ENV) and not os.environ.get(_TFIO_ENDPOINT_ENV):
    os.environ[_TFIO_ENDPOINT_ENV] = os.environ[ENDPOINT_ENV]
  import tensorflow_io  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import


def exit(code: int) -> None:  # pylint: disable=redefined-builtin
  """Ends the process with `code`; without running C++ destructors once tensorflow-io
  has been loaded (see the module doc)."""
  if 'tensorflow_io' not in sys.modules:
    sys.exit(code)
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access


def local_copy(uri: str, root: Optional[str] = None) -> Optional[str]:
  """Where the open-source launcher keeps its copy of the artifact at `uri`, below
  `root` (default: $PETSEG_KFP_LOCAL_ROOT or '/'), or None for a path it does not copy."""
  for scheme, mount in LOCAL_MOUNTS.items():
    if uri.startswith(scheme):
      return os.path.join(root or os.environ.get(LOCAL_ROOT_ENV) or '/', mount,
                          uri[len(scheme):])
  return None


def durable(path: str) -> str:
  """The URI of the artifact whose launcher copy is at `path` while a step works on such
  copies; otherwise `path` itself, which is already what others can open."""
  root = os.environ.get(LOCAL_ROOT_ENV)
  if not root or '://' in path:
    return path
  for scheme, mount in LOCAL_MOUNTS.items():
    prefix = os.path.join(root, mount) + os.sep
    if path.startswith(prefix):
      return scheme + path[len(prefix):]
  return path
