"""The console of a petseg command: petseg's own lines on the terminal, the rest in a log.

By default a command shows only its own lines: each pipeline step as it starts and ends
(ran, cached or skipped, and its seconds), training progress (core/progress.py), and the
summary. TensorFlow's C++ logs, absl and Beam logging, and library warnings go to a log
file, named at the end. With --verbose nothing is redirected: the libraries' lines show as
they always did (and go to the log file too). Errors show in full either way: a user's
error as one line, any other as its traceback.
"""
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Iterator, List, Optional, TextIO, Tuple, Type

from absl import logging as absl_logging

from petseg.core import comparison as comparison_lib
from petseg.core import config as config_lib
from petseg.core import errors
from petseg.core import progress

LOG_FILE = 'petseg.log'
# How often training progress is shown on the terminal (every line is in the log).
PROGRESS_EVERY_SECONDS = 15.0
# TFX's own log lines that mark a step of LocalDagRunner (tfx/orchestration/local and
# portable/launcher, TFX 1.16).
_STEP_STARTS = 'Component %s is running.'
_STEP_CACHED = 'A cached execution %d is used.'
_STEP_SKIPPED = 'Skipping execution for %s'
_STEP_ENDS = 'Component %s is finished.'

# A signal's exception (Ctrl-C's KeyboardInterrupt, SIGTERM's) is raised wherever the main
# thread is, and where that is a weakref callback or a __del__ that the garbage collector
# ran, Python prints it as "Exception ignored" and the run goes on (measured: during
# Transform's Beam pipeline, a Ctrl-C let the run finish and push). So stop() keeps it too,
# and the next step's start or end, or training's next progress line, raises it again.
_stopping: List[BaseException] = []

_LOGGER = logging.getLogger('petseg.console')
# The terminal's streams while a session redirects sys.stdout and sys.stderr.
_out: Optional[TextIO] = None
_err: Optional[TextIO] = None


def _write(stream: TextIO, text: str) -> None:
  stream.write(text)
  stream.flush()


def say(line: str = '') -> None:
  """A line on the terminal's standard output (and in the log)."""
  _write(_out or sys.stdout, f'{line}\n')
  _LOGGER.info(line)


def error(line: str) -> None:
  """A line on the terminal's standard error (and in the log)."""
  _write(_err or sys.stderr, f'{line}\n')
  _LOGGER.info(line)


def stop(exception: BaseException) -> None:
  """Raises `exception` (a signal handler's), and again at the next step boundary if it is
  lost."""
  _stopping[:] = [exception]
  raise exception


def stop_requested() -> Optional[BaseException]:
  """The exception stop() raised during this command, if any."""
  return _stopping[0] if _stopping else None


def forget_stop() -> None:
  """The command has ended: a signal stop() raised is done with."""
  _stopping.clear()


def _stop_if_signalled() -> None:
  if _stopping and threading.current_thread() is threading.main_thread():
    raise type(_stopping[0])()


class _Steps(logging.Handler):
  """Shows each step of the pipeline on one line, "  Trainer  ran  85.0 s", begun when the
  step starts; progress lines in between get lines of their own."""

  def __init__(self):
    super().__init__(logging.INFO)
    self._step: Optional[str] = None
    self._open = False  # the step's line waits for its end
    self._status, self._start, self._last_progress = 'ran', 0.0, 0.0

  def _write(self, text: str) -> None:
    _write(_out or sys.stdout, text)

  def emit(self, record: logging.LogRecord) -> None:
    if record.name == progress.LOGGER.name or record.msg in (_STEP_STARTS, _STEP_ENDS):
      _stop_if_signalled()
    if record.name == progress.LOGGER.name:
      now = time.monotonic()
      if getattr(record, 'final', False) or now - self._last_progress >= PROGRESS_EVERY_SECONDS:
        self._last_progress = now
        self._write(('\n' if self._open else '') + f'    {record.getMessage()}\n')
        self._open = False
    elif record.msg == _STEP_STARTS:
      self._step, self._status, self._start = record.args[0], 'ran', time.monotonic()
      self._last_progress = self._start
      self._write(f'  {self._step:<20} ')
      self._open = True
    elif record.msg == _STEP_CACHED:
      self._status = 'cached'
    elif record.msg == _STEP_SKIPPED:
      self._status = 'skipped'
    elif record.msg == _STEP_ENDS and self._step:
      seconds = time.monotonic() - self._start
      self._write(('' if self._open else f'  {self._step:<20} ')
                  + f'{self._status:<8}{seconds:6.1f} s\n')
      self._step, self._open = None, False


def _console_stream(stream: TextIO) -> TextIO:
  """A stream to the terminal that outlives redirecting file descriptors 1 and 2: a copy
  of `stream`'s descriptor, or `stream` itself when it has none (pytest's capsys)."""
  try:
    fd = stream.fileno()
  except (AttributeError, OSError, ValueError):
    return stream
  stream.flush()
  return os.fdopen(os.dup(fd), 'w', buffering=1, encoding='utf-8', errors='replace')


@contextlib.contextmanager
def session(log_path: Optional[str] = None, verbose: bool = False,
            refusals: Tuple[Type[BaseException], ...] = ()) -> Iterator[str]:
  """Runs a command with the console described above; yields the log file's path.

  Quiet: file descriptors 1 and 2 (TensorFlow's C++ logs, subprocesses) and Python's
  sys.stdout/sys.stderr (Keras, warnings) point at the log file until the command ends;
  say() and error() write to copies of the terminal's streams. The log is written to a
  temporary file and moved to `log_path` at the end if its folder exists then (a command
  refused for its settings makes no folder, and leaves no log) and the command did not
  end in one of `refusals` (errors that mean it changed nothing: the folder, and an earlier
  log in it, stay as they were); without `log_path` it stays there.
  """
  global _out, _err
  fd, temporary = tempfile.mkstemp(prefix='petseg-', suffix='.log')
  log = open(fd, 'w', buffering=1, encoding='utf-8', errors='replace')
  log_path = log_path or temporary
  root = logging.getLogger()
  saved = (_out, _err, sys.stdout, sys.stderr, root.level, list(root.handlers))
  file_handler = logging.StreamHandler(log)
  file_handler.setFormatter(
      logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
  handlers = [file_handler, _Steps()]
  if verbose:
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(os.environ.get('PETSEG_LOG_LEVEL', 'WARNING'))
    handlers.append(terminal)
  saved_fds, verbosity = [], absl_logging.get_verbosity()
  refused = False
  try:
    if not verbose:
      _out, _err = _console_stream(sys.stdout), _console_stream(sys.stderr)
      for target in (1, 2):
        saved_fds.append((target, os.dup(target)))
        os.dup2(log.fileno(), target)
      sys.stdout = sys.stderr = log
    root.handlers = handlers
    root.setLevel(logging.INFO)
    # absl's INFO lines mark the steps; set as its flag, so that a library parsing absl's
    # flags later (which sets the default, WARNING) keeps it.
    absl_logging.set_verbosity(absl_logging.INFO)
    logging.captureWarnings(True)
    yield os.path.abspath(log_path)
  except errors.PetsegError as e:
    _LOGGER.info('The command failed: %s', e)  # handled: main() says it, no traceback
    refused = isinstance(e, refusals)
    raise
  except BaseException:
    _LOGGER.info('The command failed', exc_info=True)  # the log only: main() says it
    raise
  finally:
    logging.captureWarnings(False)
    absl_logging.set_verbosity(verbosity)
    for target, copy in saved_fds:
      os.dup2(copy, target)
      os.close(copy)
    for stream in (_out, _err):
      if stream is not None and stream not in saved[:4]:
        stream.close()
    _out, _err, sys.stdout, sys.stderr = saved[:4]
    root.setLevel(saved[4])
    root.handlers = saved[5]
    log.close()
    if log_path != temporary:
      if os.path.isdir(os.path.dirname(os.path.abspath(log_path))) and not refused:
        shutil.move(temporary, log_path)
      else:  # refused: the error said why
        os.remove(temporary)


def run_table(summary, pushed: Optional[str]) -> List[str]:
  """The lines `petseg run` ends with: a components.run_summary.RunSummary, and where the
  model was pushed (None: it was not)."""
  test, training = summary.test, summary.training
  shown = comparison_lib.shown
  lines = [f'Model      {summary.model}  {summary.model_path}',
           f'Training   {training.epochs} epochs at most'
           + (f' or {training.max_train_minutes:g} minutes'
              if training.max_train_minutes else '')
           + f', images {config_lib.format_size(training.image_size)}, loss {training.loss}',
           *([f'Recipe     {training.recipe}'] if training.recipe else []),
           'Data       ' + ', '.join(f'{split} {d.ingested} (+{d.rejected} rejected)'
                                    for split, d in summary.data.items()),
           f'Test       mean IoU '
           f'{shown(test.mean_iou, test.intervals.mean_iou, images=test.images)}, '
           f'pixel accuracy {shown(test.pixel_accuracy)} (95% intervals)',
           '           ' + ', '.join(f'{name} {shown(v)}'
                                    for name, v in test.per_class_iou.items())]
  for name, s in summary.slices.items():
    lines.append(f"  {name + ':':<16} mean IoU "
                 f"{shown(s.mean_iou, s.intervals.mean_iou, images=s.images)}")
  if summary.sensitivity:
    lines.append(f'Precision  {summary.sensitivity.sentence()}')
  baseline, comparison = summary.baseline, summary.comparison
  lines.append('Baseline   ' + (f'version {baseline.version}, mean IoU '
                                f'{shown(baseline.mean_iou)}  {baseline.model_path}'
                                if baseline else 'none (nothing released before)'))
  if comparison:
    lines.append(f'Compared   {comparison.verdict}: mean IoU difference '
                 f'{shown(comparison.mean_iou.difference, comparison.mean_iou.interval)}')
    if comparison.family:
      lines.append(f'Gate       {comparison.family.sentence()}')
    if comparison.not_judged():
      lines.append('Not judged ' + '; '.join(comparison.not_judged()))
  lines.append('Blessed    ' + ('yes' if summary.blessed else
                                'no: ' + '; '.join(summary.reasons)))
  lines.append(f'Pushed     {pushed or "no"}')
  return lines
