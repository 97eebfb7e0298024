"""One `petseg run` at a time in an output directory.

The lock is an advisory `flock` on OUTPUT_DIR/.petseg-run.lock, which also names its
holder (pid, start time, command). The kernel releases the lock when its holder dies, even
by `kill -9`, so a lock left by a dead run is taken over, and the file says whose it was.
"""
import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
from typing import Iterator, Optional

from petseg.core import errors

LOCK_FILE = '.petseg-run.lock'


def _holder(fd: int) -> Optional[dict]:
  """Who wrote the lock file last, or None when it names nobody."""
  os.lseek(fd, 0, os.SEEK_SET)
  text = os.read(fd, 65536).decode('utf-8', errors='replace')
  try:
    holder = json.loads(text)
  except ValueError:
    return None
  return holder if isinstance(holder, dict) else None


def describe(holder: Optional[dict]) -> str:
  if not holder:
    return 'a process that did not say who it is'
  return (f'pid {holder.get("pid")} on {holder.get("host")}, started {holder.get("started")}: '
          f'{holder.get("command")}')


@contextlib.contextmanager
def hold(output_dir: str) -> Iterator[Optional[dict]]:
  """Holds the output directory's lock; yields the holder of a lock that was taken over
  (a run that died holding it), or None. Raises ConfigError naming a live holder."""
  path = os.path.join(output_dir, LOCK_FILE)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise errors.ConfigError(
          f'{output_dir} is in use by another petseg run ({describe(_holder(fd))}; lock '
          f'file {path}); wait for it to finish, or give another --output-dir') from None
    previous = _holder(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({
        'pid': os.getpid(), 'host': socket.gethostname(),
        'started': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        'command': ' '.join(sys.argv)}).encode(), 0)
    try:
      yield previous
    finally:
      os.ftruncate(fd, 0)  # The file stays (removing it would race a waiting run).
  finally:
    os.close(fd)  # releases the flock
