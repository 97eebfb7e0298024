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

Kubeflow's open-source launcher copies artifacts to and from local paths in the pod
(/minio/BUCKET/KEY, /gcs/..., /s3/...). `local_copy()` says where; `durable()` turns such a
path back into the URI someone can open after the run, for the records a step writes.
"""
import os
import sys
from typing import Optional

# The schemes the open-source launcher copies, and the folder of its local copies.
LOCAL_MOUNTS = {'gs://': 'gcs', 'minio://': 'minio', 's3://': 's3'}
# The root of those local copies: '/' in a pod. Set (by the step's entrypoint) only
# while a step works on them; tests point it at a temporary directory.
LOCAL_ROOT_ENV = 'PETSEG_KFP_LOCAL_ROOT'
ENDPOINT_ENV = 'AWS_ENDPOINT_URL'
_TFIO_ENDPOINT_ENV = 'S3_ENDPOINT'


def is_remote(path: str) -> bool:
  return '://' in path


def openable(uri: str) -> str:
  """Where this process opens `uri`: the launcher's local copy while a step works on
  copies and has one; otherwise `uri`, with minio://BUCKET/KEY as s3://BUCKET/KEY."""
  copy = local_copy(uri) if os.environ.get(LOCAL_ROOT_ENV) else None
  if copy and os.path.exists(copy):
    return copy
  return 's3://' + uri[len('minio://'):] if uri.startswith('minio://') else uri


def register() -> None:
  """Lets TensorFlow open s3:// (tensorflow-io's file system plugin); idempotent. Call
  it before the first s3:// path is opened, in each process that opens one."""
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
  if not root or is_remote(path):
    return path
  for scheme, mount in LOCAL_MOUNTS.items():
    prefix = os.path.join(root, mount) + os.sep
    if path.startswith(prefix):
      return scheme + path[len(prefix):]
  return path
