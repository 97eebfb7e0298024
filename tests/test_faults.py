"""Hostile input and faults: each ends in a one-line error or a reported skip naming the
file, never a raw traceback, and nothing is dropped silently; one run at a time; a killed
training resumes where it was (and seeded training is reproducible)."""
import csv
import glob
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from petseg import cli
from petseg import console
from petseg import released_model
from petseg import run_lock
from petseg import sample_data
from petseg.components.example_gen import component as example_gen
from petseg.components.example_gen import decoding
from petseg.components.example_gen import folder_reader
from petseg.components.example_gen import items
from petseg.components.example_gen import oxford_lists
from petseg.components.example_gen import oxford_reader
from petseg.components.example_gen import sources
from petseg.core import errors
from petseg.records import ingest_report
from petseg.registry import versions as release_registry
from tests.helpers import TRAINING_FLAGS, continuation, rgb, write_image

_EPOCHS, _KILL_AFTER_EPOCHS = 6, 2
# Small and seeded: the two runs of the kill-and-resume test must train identically.
_RESUMABLE = ['--image-size', '32', '--batch-size', '4', '--epochs', str(_EPOCHS),
              '--min-mean-iou', '0']


def _flags(data, out):
  return ['run', '--dataset', 'oxford_pets', '--data-dir', str(data), '--output-dir',
          str(out), *_RESUMABLE]


def _history(out):
  """The Trainer's epochs, from its history.csv: [(epoch, val_mean_iou, loss)]."""
  path, = glob.glob(str(out / 'pipeline_root' / 'Trainer' / 'model_run' / '*' /
                        'history.csv'))
  with open(path) as f:
    return [(int(row['epoch']), float(row['val_mean_iou']), float(row['loss']))
            for row in csv.DictReader(f)]


def _trained_epochs(out):
  """The epochs the Trainer's last execution trained, from its TensorBoard log."""
  events, = glob.glob(str(out / 'pipeline_root' / 'Trainer' / 'model_run' / '*' / 'train' /
                          'events.out.tfevents.*'))
  return sorted(event.step for event in tf.compat.v1.train.summary_iterator(events)
                for value in event.summary.value if value.tag == 'epoch_loss')


def _resume_states(out):
  return glob.glob(str(out / 'pipeline_root' / 'Trainer' / '.resume' / '*' / 'state.json'))


def _saved_epochs(out):
  """How many epochs the Trainer's resume state holds (0 before the first is saved)."""
  for path in _resume_states(out):
    try:
      with open(path) as f:
        return json.load(f)['epoch'] + 1
    except (OSError, ValueError):  # being replaced
      pass
  return 0


def _wait_for_epochs(out, process, epochs, timeout=900):
  """Waits until the Trainer has saved `epochs` epochs (or the run ended)."""
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None:
    if _saved_epochs(out) >= epochs:
      return
    time.sleep(0.05)
  raise AssertionError(f'the Trainer did not save {epochs} epochs in time (exit code '
                       f'{process.poll()})')


@pytest.mark.slow
def test_a_killed_training_resumes_and_ends_as_an_uninterrupted_one(tmp_path, capsys):
  data = tmp_path / 'data'
  sample_data.make_sample_data(str(data), num_images=24, seed=3, min_size=48, max_size=64)
  straight, killed = tmp_path / 'straight', tmp_path / 'killed'
  assert cli.main(_flags(data, straight)) == 0

  with open(tmp_path / 'killed.log', 'w') as log:
    process = subprocess.Popen([sys.executable, '-m', 'petseg.cli', *_flags(data, killed)],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
      _wait_for_epochs(killed, process, _KILL_AFTER_EPOCHS)
    finally:
      os.killpg(process.pid, signal.SIGKILL)
      process.wait()
  # The kill lands on an epoch boundary only roughly: what was saved is what resumes.
  saved = _saved_epochs(killed)
  assert _KILL_AFTER_EPOCHS <= saved < _EPOCHS, f'the kill landed after {saved} epochs'
  empty = [d for d in glob.glob(str(killed / 'pipeline_root' / 'Trainer' / 'model' / '*'))
           if not os.listdir(d)]
  assert empty, 'the killed run should have left the Trainer\'s empty model directory'
  capsys.readouterr()

  assert cli.main(_flags(data, killed)) == 0
  # The re-run trained the remaining epochs only (its TensorBoard log, epoch by epoch).
  assert _trained_epochs(killed) == list(range(saved, _EPOCHS))
  assert _trained_epochs(straight) == list(range(_EPOCHS))
  printed = capsys.readouterr().out
  assert 'Took over the lock of a run that ended without releasing it (pid ' in printed
  assert f'Removed the partial output of an interrupted run: {empty[0]}' in printed
  for model_dir in glob.glob(str(killed / 'pipeline_root' / 'Trainer' / 'model' / '*')):
    assert os.listdir(model_dir), f'{model_dir} is empty'
  assert not _resume_states(killed), 'a finished training keeps no resume state'

  resumed, uninterrupted = _history(killed), _history(straight)
  assert [e for e, _, _ in resumed] == [e for e, _, _ in uninterrupted] == list(range(_EPOCHS))
  # Seeded training is reproducible: the killed run, another process, trained its first
  # epochs exactly as the uninterrupted one did.
  assert resumed[:saved] == uninterrupted[:saved]
  for (_, iou, loss), (_, iou_0, loss_0) in zip(resumed, uninterrupted):
    assert iou == pytest.approx(iou_0, abs=1e-4) and loss == pytest.approx(loss_0, rel=1e-4)
  summaries = [json.loads((out / 'run_summary.json').read_text()) for out in (killed, straight)]
  assert summaries[0]['test']['mean_iou'] == pytest.approx(summaries[1]['test']['mean_iou'],
                                                           abs=1e-4)


# --- Ingestion: what passes it cannot fail later; every skip names its file ------------

def _damaged_png(array) -> bytes:
  """A PNG whose image data has a wrong checksum: Pillow shows it, TensorFlow refuses it."""
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format='PNG')
  data = bytearray(buffer.getvalue())
  start = data.index(b'IDAT')
  data[start + 4 + int.from_bytes(data[start - 4:start], 'big')] ^= 0xFF  # its CRC
  return bytes(data)


def test_a_png_that_only_pillow_decodes_is_rejected_at_ingestion():
  data = _damaged_png(rgb(20, 30))
  Image.open(io.BytesIO(data)).load()  # Pillow ignores the checksum
  with pytest.raises(items.Rejected) as e:
    decoding.read_image(data, 'images/x.png')
  assert e.value.reason == items.UNREADABLE_IMAGE and e.value.file == 'images/x.png'
  assert 'cannot be decoded by TensorFlow (Invalid PNG data' in e.value.detail


def test_list_files_take_any_bytes_and_name_file_and_line():
  data = (b'\xef\xbb\xbfAbyssinian_1 1 1 1\n'  # a BOM, dropped
          b'beagle_1 5 2 2\n'
          b'beagl\xe9_2 5 2 2\n'  # Latin-1, not UTF-8
          b'pug_1 ' + b'x' * 500 + b'\r\n'
          b'\xff\xfe\n')
  entries, problems = oxford_lists.parse_list(data)
  assert [e.name for e in entries] == ['Abyssinian_1', 'beagle_1']
  assert [(name, message.split(': ', 1)[0]) for name, message in problems] == [
      ('beagl\ufffd_2', 'line 3'), ('pug_1', 'line 4'), ('\ufffd\ufffd', 'line 5')]
  assert 'not UTF-8 text (byte 0xe9 at column 6)' in problems[0][1]
  assert len(problems[1][1]) < 200 and problems[1][1].endswith("...'")


@pytest.fixture
def hostile_oxford(tmp_path):
  """Eight generated pets, then: a damaged PNG, a list line in Latin-1, a listed item with
  neither file, and an image that is a symlink to a file outside the data directory."""
  data = tmp_path / 'data'
  sample_data.make_sample_data(str(data), num_images=8, seed=1, min_size=32, max_size=48)
  lists = data / 'annotations'
  names = [line.split()[0] for line in (lists / 'trainval.txt').read_text().splitlines()
           if not line.startswith('#')]
  image = data / 'images' / f'{names[0]}.jpg'
  damaged = _damaged_png(np.asarray(Image.open(image)))
  image.unlink()
  (data / 'images' / f'{names[0]}.png').write_bytes(damaged)
  outside = tmp_path / 'elsewhere.jpg'
  os.replace(data / 'images' / f'{names[1]}.jpg', outside)
  os.symlink(outside, data / 'images' / f'{names[1]}.jpg')
  with open(lists / 'trainval.txt', 'ab') as f:
    f.write(b'Bengal_9\xe9 3 1 3\nBengal_404 3 1 3\n')
  return data, names


def test_hostile_items_are_each_rejected_once_with_file_and_reason(tmp_path, hostile_oxford):
  data, names = hostile_oxford
  config = sources.dataset_config('oxford_pets', str(data), {'max_reject_fraction': 1.0})
  examples = example_gen.ingest(str(data), config, str(tmp_path / 'examples'),
                                required_splits=())
  report = ingest_report.load(examples.uri)
  rejected = {(r.reason, os.path.basename(r.file)): r.detail for r in report.rejected}
  assert sorted(rejected) == sorted([
      (items.UNREADABLE_IMAGE, f'{names[0]}.png'), (items.OUTSIDE_DATA_DIR, f'{names[1]}.jpg'),
      (items.BAD_LIST_LINE, 'trainval.txt'), (items.MISSING_IMAGE, 'Bengal_404.*')])
  assert 'no mask' in rejected[(items.MISSING_IMAGE, 'Bengal_404.*')]  # once, both named
  assert 'elsewhere.jpg, outside the data directory' in rejected[
      (items.OUTSIDE_DATA_DIR, f'{names[1]}.jpg')]
  assert sum(s.ingested for s in report.splits.values()) == 8 - 2

  followed = sources.dataset_config('oxford_pets', str(data),
                                    {'max_reject_fraction': 1.0, 'follow_symlinks': True})
  candidates, skipped = oxford_reader.list_candidates(str(data), followed)
  assert names[1] in {c.name for c in candidates}
  assert items.OUTSIDE_DATA_DIR not in {s.reason for s in skipped}


@pytest.mark.slow
def test_a_failed_ingestion_keeps_its_report_in_the_output_dir(tmp_path, hostile_oxford,
                                                              capsys):
  data, _ = hostile_oxford
  out = tmp_path / 'out'
  assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(data),
                   '--output-dir', str(out), '--epochs', '1', '--image-size', '32']) == 1
  error = capsys.readouterr().err
  assert error.startswith('petseg: error: split ')
  assert 'unreadable_image' in error and 'cannot be decoded' in error
  report_path = out / ingest_report.FILE_NAME
  assert f'Every rejected file and why: {report_path}.' in error
  assert 'Traceback' not in error
  report = json.loads(report_path.read_text())
  assert len(report['rejected']) == 4
  failing = [s for s, stats in report['splits'].items()
             if stats['reject_fraction'] > 0.05 or not stats['ingested']]
  assert all(f'split {s!r}' in error for s in failing)  # every failing split, not the first


def test_a_test_only_camvid_folder_is_a_camvid_dataset(tmp_path):
  for i in range(3):
    write_image(tmp_path / 'images_prepped_test' / f'{i}.png', rgb(), 'PNG')
    write_image(tmp_path / 'annotations_prepped_test' / f'{i}.png',
                np.full((12, 16), 2, np.uint8), 'PNG')
  assert folder_reader.detect_layout(str(tmp_path)) == folder_reader.CAMVID_LAYOUT
  config = sources.dataset_config('folder', str(tmp_path))
  candidates, skipped = folder_reader.list_candidates(str(tmp_path), config)
  assert {c.split for c in candidates} == {'test'} and len(candidates) == 3 and not skipped


# --- Settings and paths: checked before the first component runs ------------------------

@pytest.mark.parametrize('flags, message', [
    (['--learning-rate', 'nan'], 'learning_rate must be a finite number > 0, got nan'),
    (['--crop-size', '33'],
     'unet_xception needs a crop size divisible by 16, got 33x33; try 32x32 or 48x48'),
    (['--image-size', '360x'], "image_size must be N or HxW, e.g. 160 or 360x480, got '360x'"),
    (['--image-size', '8x64'], 'unet_xception needs an image size of at least 16, got 8x64'),
    (['--max-train-minutes', '0'], 'max_train_minutes must be a finite number > 0, got 0'),
    (['--epochs', '0'], 'epochs must be an integer >= 1, got 0'),
    (['--max-mean-iou-drop', 'inf'], 'max_mean_iou_drop must be a finite number'),
    (['--', '--direct_num_wrkers=2'], 'Beam does not know the arguments --direct_num_wrkers=2'),
    (['--', '--runner=DataflowRunner', '--project=p', '--region=r'],
     "Beam's DataflowRunner runs its workers in containers, which need petseg's code: pass "
     '--sdk_container_image='),
    (['--', '--runner=PortableRunner', '--job_endpoint=localhost:8099'],
     "Beam's PortableRunner runs its workers in containers"),
])
def test_bad_settings_fail_before_anything_runs(tmp_path, sample_dir, capsys, flags, message):
  out = tmp_path / 'out'
  args = ['run', '--dataset', 'oxford_pets', '--data-dir', str(sample_dir), '--output-dir',
          str(out)]
  split = flags.index('--') if '--' in flags else len(flags)
  assert cli.main([*args, *flags[:split], *flags[split:]]) == 1
  error = capsys.readouterr().err
  assert message in error and error.count('\n') == 1 and 'Traceback' not in error
  assert not out.exists()  # nothing made, nothing run


def test_unusable_output_and_serving_dirs_fail_before_anything_runs(tmp_path, sample_dir,
                                                                    capsys):
  a_file = tmp_path / 'file'
  a_file.write_text('')
  cases = [
      (sample_dir, ['--output-dir', str(tmp_path / 'out'), '--serving-dir', str(a_file)],
       f'--serving-dir {a_file}: exists and is not a directory'),
      (sample_dir, ['--output-dir', str(a_file / 'out')],
       f'--output-dir {a_file / "out"}: cannot write'),
      (sample_dir, ['--output-dir', '/proc/petseg-out'],
       '--output-dir /proc/petseg-out: cannot write'),
      (tmp_path / 'no-such-data', ['--output-dir', str(tmp_path / 'out')],
       f'--data-dir {tmp_path / "no-such-data"}: no such directory'),
      (a_file, ['--output-dir', str(tmp_path / 'out')],
       f'--data-dir {a_file}: is a file, not a directory'),
  ]
  for data, flags, message in cases:
    assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(data), *flags]) == 1
    assert message in capsys.readouterr().err
  assert not (tmp_path / 'out' / 'metadata.sqlite').exists()


@pytest.mark.parametrize('settings, message', [
    ({'class_names': ['a', 'b'], 'ignore_values': [1]},
     "ignore_values: [1] is a class id ('b'); ignored values must lie outside 0..1"),
    ({'class_names': ['a', 'b', 'a']},
     "class_names: 'a' named more than once (each class has its own iou/NAME metric)"),
    ({'palette': [{'name': 'a', 'colour': [1, 2, 3]}, {'name': 'b', 'colour': [1, 2, 3]}]},
     'palette: colour (1, 2, 3) given more than once'),
    ({'palette': [{'name': 'a', 'colour': [1, 2, 3]}], 'ignore_colours': [[1, 2, 3]]},
     'palette: colour (1, 2, 3) given more than once (among the classes and ignore_colours)'),
    ({'class_names': ['a', 'b'], 'release': {'min_slice_images': 0}},
     'min_slice_images must be an integer >= 1, got 0'),
])
def test_settings_that_contradict_themselves_name_the_config_file(tmp_path, capsys, settings,
                                                                  message):
  data = tmp_path / 'data'
  for i in range(2):
    write_image(data / 'images' / f'{i}.png', rgb(), 'PNG')
    write_image(data / 'masks' / f'{i}.png', np.zeros((12, 16), np.uint8), 'PNG')
  config = tmp_path / 'settings.json'
  config.write_text(json.dumps(settings))
  assert cli.main(['run', '--dataset', 'folder', '--data-dir', str(data), '--output-dir',
                   str(tmp_path / 'out'), '--config', str(config)]) == 1
  error = capsys.readouterr().err
  assert error.startswith(f'petseg: error: {config}: {message}'), error
  assert error.count('\n') == 1


def test_a_flag_that_is_wrong_is_named_not_the_config_file(tmp_path, sample_dir, capsys):
  config = tmp_path / 'settings.json'
  config.write_text(json.dumps({'release': {'min_mean_iou': 0.5}}))
  assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(sample_dir),
                   '--output-dir', str(tmp_path / 'out'), '--config', str(config),
                   '--min-mean-iou', '2']) == 1
  assert capsys.readouterr().err == (
      'petseg: error: min_mean_iou must be a finite number in [0, 1], got 2.0\n')


def test_a_handled_error_is_logged_without_a_traceback(tmp_path):
  log = tmp_path / 'petseg.log'
  with pytest.raises(errors.ConfigError):
    with console.session(str(log)):
      raise errors.ConfigError('--data-dir d: no such directory')
  text = log.read_text()
  assert 'The command failed: --data-dir d: no such directory' in text
  assert 'Traceback' not in text


def test_evaluate_has_the_flag_its_advice_names():
  args = cli._parser().parse_args(['evaluate', '--model-dir', 'm', '--dataset', 'oxford_pets',
                                   '--data-dir', 'd', '--max-reject-fraction', '0.5'])
  assert cli._flag_settings(args)['dataset'] == {'max_reject_fraction': 0.5}
  assert '--max-reject-fraction' in str(ingest_report.IngestError('p', None, 'r'))


def test_an_image_listed_in_two_splits_is_named(tmp_path):
  data = tmp_path / 'data'
  sample_data.make_sample_data(str(data), num_images=6, seed=1, min_size=32, max_size=40)
  trainval = (data / 'annotations' / 'trainval.txt').read_text().splitlines()
  with open(data / 'annotations' / 'test.txt', 'a') as f:
    f.write(trainval[0] + '\n')
  _, skipped = oxford_reader.list_candidates(
      str(data), sources.dataset_config('oxford_pets', str(data)))
  duplicate, = [s for s in skipped if s.reason == items.DUPLICATE_NAME]
  name = trainval[0].split()[0]
  assert duplicate.detail.startswith(f'{name} is listed again in annotations/test.txt '
                                     '(already in annotations/trainval.txt)')


# --- One run at a time ----------------------------------------------------------------

_HOLDER = '''
import sys, time
from petseg import run_lock
with run_lock.hold(sys.argv[1]):
  print('holding', flush=True)
  time.sleep(600)
'''


def test_a_second_run_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path, sample_dir,
                                                                       capsys):
  out = tmp_path / 'out'
  out.mkdir()
  holder = subprocess.Popen([sys.executable, '-c', _HOLDER, str(out)], stdout=subprocess.PIPE,
                            text=True)
  try:
    assert holder.stdout.readline() == 'holding\n'
    assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(sample_dir),
                     '--output-dir', str(out)]) == 1
    error = capsys.readouterr().err
    assert f'{out} is in use by another petseg run (pid {holder.pid} on ' in error
    assert error.count('\n') == 1
  finally:
    holder.kill()  # SIGKILL: the holder cannot release anything itself
    holder.wait()
  with run_lock.hold(str(out)) as previous:
    assert previous['pid'] == holder.pid
  with run_lock.hold(str(out)) as previous:
    assert previous is None  # released properly this time


# --- predict: every per-image failure is a skip with its reason ------------------------

def test_upsampling_is_tensorflows_bilinear_resize_then_argmax_to_the_bit():
  """Near-ties (classes a few ulps apart), where any other rounding picks the other class."""
  rng = np.random.default_rng(0)
  base = rng.random((20, 24, 1)).astype(np.float32)
  for probabilities in (rng.random((20, 24, 3)).astype(np.float32),
                        base + rng.integers(-2, 3, (20, 24, 3)) * np.float32(1e-7)):
    for height, width in ((97, 131), (20, 24), (7, 5), (300, 41), (1, 2000), (1001, 3)):
      expected = tf.argmax(tf.image.resize(probabilities, [height, width], 'bilinear'), -1)
      ours = np.concatenate(list(released_model.class_id_bands(probabilities, height, width,
                                                               band_rows=16)))
      assert ours.dtype == np.uint8 and ours.shape == (height, width)
      assert np.array_equal(ours, expected.numpy()), (height, width)


def _png_header(width, height) -> bytes:
  """A PNG that claims a size: its header is all that a budget check reads."""
  ihdr = width.to_bytes(4, 'big') + height.to_bytes(4, 'big') + bytes([8, 2, 0, 0, 0])
  chunk = lambda kind, body: (len(body).to_bytes(4, 'big') + kind + body +  # noqa: E731
                              zlib.crc32(kind + body).to_bytes(4, 'big'))
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0'))
          + chunk(b'IEND', b''))


@pytest.mark.slow
def test_predict_skips_what_it_cannot_take_and_says_why(trained, tmp_path, capsys):
  root, _ = trained
  good = sorted((root / 'data' / 'images').glob('*.jpg'))[0]
  damaged, huge, small = tmp_path / 'damaged.png', tmp_path / 'huge.png', tmp_path / 'small.png'
  damaged.write_bytes(_damaged_png(rgb(40, 50)))
  broken = tmp_path / 'broken.jpg'
  broken.write_bytes(b'not an image')
  huge.write_bytes(_png_header(20000, 20000))
  write_image(small, rgb(40, 50), 'PNG')
  serving = str(root / 'out' / 'serving')
  assert cli.main(['predict', '--model-dir', serving, str(damaged), str(good), str(broken),
                   str(huge), '--output-dir', str(tmp_path / 'out')]) == 1
  captured = capsys.readouterr()
  assert f'{broken}: cannot be read as an image' in captured.err
  assert f'skipped {damaged}: cannot be decoded by TensorFlow (Invalid PNG data' in captured.err
  assert (f'skipped {huge}: 20000x20000 is 400,000,000 pixels, above the pixel budget of '
          '50,000,000 (--max-pixels)') in captured.err
  assert '1 masks and overlays written' in captured.out and 'Traceback' not in captured.err
  assert (tmp_path / 'out' / f'{good.stem}_mask.png').is_file()

  assert cli.main(['predict', '--model-dir', serving, str(small), '--max-pixels', '1000',
                   '--output-dir', str(tmp_path / 'out')]) == 1
  assert '50x40 is 2,000 pixels, above the pixel budget of 1,000' in capsys.readouterr().err


# --- Using a release: predict never overwrites, a damaged registry is named -------------

def _rotated_jpeg(path, array, orientation):
  exif = Image.Exif()
  exif[0x0112] = orientation
  Image.fromarray(array).save(path, format='JPEG', exif=exif.tobytes())


@pytest.mark.slow
def test_predict_never_writes_over_an_input_or_an_existing_file(trained, tmp_path, capsys):
  root, _ = trained
  serving = str(root / 'out' / 'serving')
  photo = tmp_path / 'x.jpg'
  shutil.copy(sorted((root / 'data' / 'images').glob('*.jpg'))[0], photo)
  shutil.copy(photo, tmp_path / 'x_mask.png')  # an input named like x.jpg's output
  assert cli.main(['predict', '--model-dir', serving, str(photo), str(tmp_path / 'x_mask.png'),
                   '--output-dir', str(tmp_path)]) == 1
  error = capsys.readouterr().err
  assert error == (f'petseg: error: {tmp_path / "x_mask.png"}: is an input and would be '
                   f'overwritten by the output for {photo}; give another --output-dir\n')
  assert (tmp_path / 'x_mask.png').read_bytes() == photo.read_bytes()

  out = tmp_path / 'out'
  assert cli.main(['predict', '--model-dir', serving, str(photo), '--output-dir', str(out)]) == 0
  before = (out / 'x_mask.png').read_bytes()
  capsys.readouterr()
  assert cli.main(['predict', '--model-dir', serving, str(photo), '--output-dir', str(out)]) == 1
  assert capsys.readouterr().err == (
      f'petseg: error: {out / "x_mask.png"}: exists (2 of the outputs do); predict does not '
      'overwrite files: pass --overwrite, or give another --output-dir\n')
  assert cli.main(['predict', '--model-dir', serving, str(photo), '--output-dir', str(out),
                   '--overwrite']) == 0
  assert (out / 'x_mask.png').read_bytes() == before


@pytest.mark.slow
def test_predict_turns_phone_photos_upright_and_refuses_what_ingestion_refuses(
    trained, tmp_path, capsys):
  root, _ = trained
  serving = str(root / 'out' / 'serving')
  upright = np.asarray(Image.open(sorted((root / 'data' / 'images').glob('*.jpg'))[0]))
  # As a phone held upright stores it: turned a quarter anticlockwise, with the tag that
  # tells viewers to turn it a quarter clockwise (orientation 6).
  _rotated_jpeg(tmp_path / 'phone.jpg', np.rot90(upright, 1).copy(), orientation=6)
  write_image(tmp_path / 'plain.jpg', upright, 'JPEG')
  clear = np.dstack([rgb(40, 50), np.full((40, 50), 128, np.uint8)])
  Image.fromarray(clear, 'RGBA').save(tmp_path / 'clear.png')
  out = tmp_path / 'out'
  assert cli.main(['predict', '--model-dir', serving, str(tmp_path / 'phone.jpg'),
                   str(tmp_path / 'plain.jpg'), str(tmp_path / 'clear.png'),
                   '--output-dir', str(out)]) == 1
  captured = capsys.readouterr()
  assert (f'1 images turned upright by their EXIF orientation, as viewers show them (their '
          f'masks match): {tmp_path / "phone.jpg"}') in captured.out
  assert (f'skipped {tmp_path / "clear.png"}: has 100.0% transparent pixels (RGBA)'
          in captured.err)
  phone = np.asarray(Image.open(out / 'phone_mask.png'))
  plain = np.asarray(Image.open(out / 'plain_mask.png'))
  assert phone.shape == plain.shape == upright.shape[:2]
  # The same picture as people see it, through JPEG twice: nearly the same mask.
  assert np.mean(phone == plain) > 0.9


@pytest.mark.slow
def test_a_damaged_release_is_named_by_run_predict_and_evaluate(trained, tmp_path, capsys):
  root, _ = trained
  serving = tmp_path / 'serving'
  shutil.copytree(root / 'out' / 'serving', serving)
  (serving / '9').write_text('a stray file')  # neither a version nor the newest
  (serving / '\u00b2').mkdir()  # a superscript 2: not a version
  shutil.copytree(serving / '1', serving / '2')
  (serving / '2' / 'saved_model.pb').write_bytes(b'\x00garbage\xff' * 10)
  predict = ['predict', '--model-dir', str(serving), str(sorted(
      (root / 'data' / 'images').glob('*.jpg'))[0]), '--output-dir', str(tmp_path / 'out')]
  damaged = (f'petseg: error: {serving / "2"}: saved_model.pb is damaged (not a SavedModel); '
             'restore the version or move it out of the serving directory, and the newest '
             'intact one is used\n')
  assert cli.main(predict) == 1
  assert capsys.readouterr().err == damaged
  capsys.readouterr()
  assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(root / 'data'),
                   *continuation(root, tmp_path / 'run')[1], '--serving-dir', str(serving),
                   *TRAINING_FLAGS]) == 1
  assert capsys.readouterr().err.endswith(damaged)
  assert sorted(set(os.listdir(serving)) - set(release_registry.OWN_ENTRIES)) == [
      '1', '2', '9', '\u00b2']  # nothing pushed

  shutil.rmtree(serving / '2')
  (serving / '1' / 'assets.extra' / 'release.json').write_text('{"version": 1,')
  record = serving / '1' / 'assets.extra' / 'release.json'
  for command in (predict, ['evaluate', '--model-dir', str(serving), '--dataset',
                            'oxford_pets', '--data-dir', str(root / 'data')]):
    assert cli.main(command) == 1
    error = capsys.readouterr().err
    assert error.startswith(f'petseg: error: {record}: the release record is not valid JSON ')
    assert error.count('\n') == 1


_FULL_DISK = """
import resource, signal, sys
from petseg.components.pusher import executor as serving_pusher
from tests import helpers
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
serving_pusher.publish(sys.argv[1], sys.argv[2], helpers.run_summary_of())
"""


def test_a_push_that_runs_out_of_room_says_so_and_leaves_nothing(tmp_path):
  model = tmp_path / 'model'
  (model / 'variables').mkdir(parents=True)
  (model / 'saved_model.pb').write_bytes(b'graph')
  (model / 'variables' / 'variables.data-00000-of-00001').write_bytes(b'w' * 5000)
  serving = tmp_path / 'serving'
  done = subprocess.run([sys.executable, '-c', _FULL_DISK, str(model), str(serving)],
                        capture_output=True, text=True, cwd=os.path.dirname(
                            os.path.dirname(os.path.abspath(__file__))))
  assert done.returncode == 1
  assert (f'petseg.core.errors.ReleaseError: {serving / "1"}: cannot be written (File too large)'
          f'; the model needs 5,005 bytes there; nothing was released') in done.stderr
  assert [n for n in os.listdir(serving) if n not in release_registry.OWN_ENTRIES] == []


_SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]


@pytest.mark.slow
@pytest.mark.parametrize('signum, status', _SIGNALS, ids=['ctrl-c', 'sigterm'])
def test_an_interrupted_run_says_one_line_and_frees_its_lock(tmp_path, sample_dir, signum,
                                                              status):
  out = tmp_path / 'out'
  process = subprocess.Popen(
      [sys.executable, '-m', 'petseg.cli', 'run', '--dataset', 'oxford_pets', '--data-dir',
       str(sample_dir), '--output-dir', str(out), *_RESUMABLE],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  assert process.stdout.readline().startswith('Running ')  # in the pipeline now
  time.sleep(3)
  process.send_signal(signum)
  stdout, stderr = process.communicate(timeout=300)
  assert process.returncode == status, stderr
  assert stderr.splitlines()[-1] == 'petseg: interrupted; re-run the same command to resume'
  assert 'Traceback' not in stderr
  assert 'Traceback' in (out / 'petseg.log').read_text()  # in the log only
  with run_lock.hold(str(out)) as previous:
    assert previous is None  # released, not left behind
