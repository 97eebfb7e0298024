"""The console: a command's own lines on the terminal, the libraries' in the log file."""
import os
import signal
import tempfile
import warnings

from absl import logging as absl_logging
import pytest

from petseg import cli
from petseg import console
from petseg.core import progress


def _noise():
  """What libraries write while a command runs, at every level it can come from."""
  os.write(2, b'C++ log line from TensorFlow\n')  # a file descriptor, as C++ code writes
  print('a library print')
  with warnings.catch_warnings():
    warnings.simplefilter('always')  # shown every time, not once per place
    warnings.warn('a deprecated thing', FutureWarning)
  absl_logging.warning('an absl warning')


def _a_step():
  """A step as LocalDagRunner logs it (TFX 1.16's own lines), with training progress."""
  absl_logging.info('Component %s is running.', 'Trainer')
  progress.LOGGER.info('epoch 2/2: loss 0.1', extra={'final': True})
  absl_logging.info('Component %s is finished.', 'Trainer')
  absl_logging.info('Component %s is running.', 'Transform')
  absl_logging.info('A cached execution %d is used.', 7)
  absl_logging.info('Component %s is finished.', 'Transform')


def test_a_quiet_session_shows_our_lines_and_logs_the_rest(tmp_path, capfd):
  log = tmp_path / 'out' / console.LOG_FILE
  (tmp_path / 'out').mkdir()
  with console.session(str(log)) as path:
    _noise()
    console.say('our line')
    _a_step()
    console.error('our error line')
  out, err = capfd.readouterr()
  lines = out.splitlines()
  assert lines[0] == 'our line'
  assert lines[1] == '  Trainer              '  # begun when the step started
  assert lines[2] == '    epoch 2/2: loss 0.1'
  assert lines[3].startswith('  Trainer              ran ') and lines[3].endswith(' s')
  assert lines[4].startswith('  Transform            cached ')
  assert len(lines) == 5 and err == 'our error line\n'
  assert path == str(log)
  logged = log.read_text()
  for noise in ('C++ log line', 'a library print', 'a deprecated thing', 'an absl warning',
                'our line', 'Component Trainer is running.'):
    assert noise in logged
  print('after the session')  # the streams are back
  os.write(1, b'fd 1 is back\n')
  assert capfd.readouterr().out == 'after the session\nfd 1 is back\n'


def test_a_verbose_session_shows_the_libraries_too(tmp_path, capfd):
  log = tmp_path / console.LOG_FILE
  with console.session(str(log), verbose=True):
    _noise()
    console.say('our line')
  out, err = capfd.readouterr()
  assert 'our line' in out and 'a library print' in out
  assert 'C++ log line' in err and 'a deprecated thing' in err and 'an absl warning' in err
  assert 'a deprecated thing' in log.read_text()


def test_a_command_refused_before_its_folder_exists_leaves_no_log(tmp_path):
  def logs():
    return {f for f in os.listdir(tempfile.gettempdir())
            if f.startswith('petseg-') and f.endswith('.log')}

  before = logs()
  log = tmp_path / 'never_made' / console.LOG_FILE
  with pytest.raises(ValueError):
    with console.session(str(log)):
      raise ValueError('refused')
  assert not log.parent.exists() and logs() == before


class _Collected:
  """An object whose finaliser is where a signal lands: Python prints the exception raised
  there ("Exception ignored") and goes on."""

  def __del__(self):
    cli._stop(signal.SIGINT, None)  # the Ctrl-C handler, as the signal would run it


@pytest.mark.filterwarnings('ignore::pytest.PytestUnraisableExceptionWarning')  # expected
def test_a_ctrl_c_lost_in_a_finaliser_still_stops_the_run_at_the_next_step(capsys):
  with pytest.raises(KeyboardInterrupt):
    with console.session():
      absl_logging.info('Component %s is running.', 'Transform')
      _Collected()  # collected at once: its KeyboardInterrupt is printed and lost
      absl_logging.info('Component %s is finished.', 'Transform')
      absl_logging.info('Component %s is running.', 'Trainer')  # not reached
  console.forget_stop()
  assert 'Trainer' not in capsys.readouterr().out
