"""The whole pipeline learns the synthetic sample, and its model serves raw images."""
import csv
import glob
import io
import json
import os
import subprocess
import sys

from ml_metadata.proto import metadata_store_pb2
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
from tfx import v1 as tfx

from petseg import released_model
from petseg.components.trainer import component as trainer_component
from petseg.core import confusion as confusion_lib
from petseg.models import input_pipeline
from petseg.models import module_file
from petseg.models import scoring
from petseg.pipeline import metadata
from tests.helpers import read_records
from tests.helpers import split_files
from tests.helpers import trained_output

pytestmark = pytest.mark.slow


def _serving_dir(store):
  return os.path.join(trained_output(store, 'Trainer', 'model'), 'Format-Serving')


def test_transform_and_trainer_ran(trained):
  _, store = trained
  for node in ('Transform', 'Trainer'):
    first = metadata.executions(store, 'petseg', node)[0]
    assert first.last_known_state == metadata_store_pb2.Execution.COMPLETE


def test_model_learns_the_sample_well_above_chance(trained):
  """Mean IoU on the test split, from the exported model's own evaluation signatures."""
  _, store = trained
  examples = trained_output(store, 'ExampleGen', 'examples')
  test_files = [os.path.join(examples, 'Split-test', '*')]
  confusion = scoring.confusion_matrix(_serving_dir(store), test_files, 3)
  result = confusion_lib.scores(confusion, ['pet', 'background', 'border'])
  # Chance: predicting background everywhere scores about 0.26 here.
  assert result['mean_iou'] > 0.55, result
  assert result['per_class_iou']['pet'] > 0.6, result
  assert result['per_class_iou']['background'] > 0.8, result


def test_scoring_at_each_images_own_size_is_what_predict_writes(trained, tmp_path):
  """At their own size, the test images are scored on every pixel of their original masks,
  against the masks `petseg predict` writes for them (its own upsampling, in bands)."""
  root, store = trained
  examples = trained_output(store, 'ExampleGen', 'examples')
  scored = scoring.image_matrices(_serving_dir(store), split_files(examples, 'test'), 3,
                                  batch_size=4, at_own_size=True)
  records = read_records(examples, 'test')
  names = [r.features.feature['file_name'].bytes_list.value[0].decode() for r in records]
  assert scored.names == tuple(sorted(names))
  sizes = [(r.features.feature['height'].int64_list.value[0],
            r.features.feature['width'].int64_list.value[0]) for r in records]
  assert len(set(sizes)) > 1  # batches of images of different sizes, padded when served
  written = released_model.predict(_serving_dir(store),
                                   [str(root / 'data' / 'images' / n) for n in names],
                                   str(tmp_path))
  assert not written.skipped
  expected = np.zeros((3, 3), np.int64)
  for record, mask_path in zip(records, written.written):
    truth = np.asarray(Image.open(io.BytesIO(record.features.feature['mask'].bytes_list.value[0])))
    confusion_lib.add(expected, truth, np.asarray(Image.open(mask_path)))
  np.testing.assert_array_equal(scored.confusion, expected)
  # The sample's trimaps label every pixel, and the figure is near the model size's.
  assert scored.confusion.sum() == sum(h * w for h, w in sizes)
  at_model_size = scoring.confusion_matrix(_serving_dir(store), split_files(examples, 'test'), 3)
  assert abs(confusion_lib.scores(scored.confusion)['mean_iou']
             - confusion_lib.scores(at_model_size)['mean_iou']) < 0.05


def test_training_curves_and_tensorboard_logs(trained):
  _, store = trained
  run_dir = trained_output(store, 'Trainer', 'model_run')
  with open(os.path.join(run_dir, 'history.csv')) as f:
    history = list(csv.DictReader(f))
  assert len(history) >= 15
  assert float(history[-1]['loss']) < float(history[0]['loss'])
  assert glob.glob(os.path.join(run_dir, 'train', 'events.out.tfevents.*'))


_SERVE_WITHOUT_PETSEG = '''
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
images = [open(path, 'rb').read() for path in sys.argv[2:]]
out = model.signatures['serving_default'](images=tf.constant(images))
lean = model.signatures['serving_class_ids'](images=tf.constant(images))
print(json.dumps({
    'shapes': [list(out['class_ids'].shape), list(out['probabilities'].shape)],
    'sizes': [out['height'].numpy().tolist(), out['width'].numpy().tolist()],
    'lean': sorted(lean), 'same_ids': bool(tf.reduce_all(lean['class_ids'] == out['class_ids'])),
    'petseg_loaded': any(name.startswith('petseg') for name in sys.modules)}))
'''


def test_exported_model_serves_raw_jpegs_without_project_code(trained):
  root, store = trained
  images = sorted(glob.glob(str(root / 'data' / 'images' / '*.jpg')))[:2]
  sizes = [Image.open(path).size for path in images]  # (width, height)
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  result = subprocess.run([sys.executable, '-c', _SERVE_WITHOUT_PETSEG, _serving_dir(store),
                           *images], capture_output=True, text=True, env=env,
                          cwd=str(root), check=True)
  served = json.loads(result.stdout.strip().splitlines()[-1])
  assert not served['petseg_loaded']
  heights, widths = served['sizes']
  assert [(w, h) for w, h in zip(widths, heights)] == sizes
  max_h, max_w = max(heights), max(widths)
  assert served['shapes'] == [[2, max_h, max_w], [2, max_h, max_w, 3]]
  # The lean signature: the same class ids, no probabilities.
  assert served['lean'] == ['class_ids', 'height', 'width'] and served['same_ids']


def _png(array) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format='PNG')
  return buffer.getvalue()


def test_a_model_trained_on_crops_scores_and_serves_whole_images(trained, tmp_path):
  """64x64 crops of the 96x96 images, Lovasz-softmax, a time budget and test-time flip:
  the exported model scores every pixel of the whole 96x96 images, and its predictions
  mirror with the image."""
  root, store = trained
  examples = trained_output(store, 'Transform', 'transformed_examples')
  config = trainer_component.training_config_of(metadata.executions(store, 'petseg', 'Trainer')[0])
  serving = tmp_path / 'serving'
  module_file.run_fn(tfx.components.FnArgs(
      train_files=[os.path.join(examples, 'Split-train', '*')],
      eval_files=[os.path.join(examples, 'Split-eval', '*')],
      transform_output=trained_output(store, 'Transform', 'transform_graph'),
      serving_model_dir=str(serving), model_run_dir=str(tmp_path / 'run'),
      custom_config={**config, 'epochs': 2, 'crop_size': [64, 64], 'max_train_minutes': 10,
                     'loss': 'cross_entropy+lovasz', 'test_time_flip': True}))
  with open(tmp_path / 'run' / 'training_config.json') as f:
    assert json.load(f)['crop_size'] == [64, 64]
  test_files = [os.path.join(trained_output(store, 'ExampleGen', 'examples'), 'Split-test',
                             '*')]
  confusion = scoring.confusion_matrix(str(serving), test_files, 3)
  # Every pixel of every whole image: the sample's trimaps label them all.
  assert confusion.sum() == input_pipeline.count(test_files) * 96 * 96

  image = np.asarray(Image.open(sorted(glob.glob(str(root / 'data' / 'images' / '*.jpg')))[0]))
  model = tf.saved_model.load(str(serving))
  out = model.signatures['serving_default'](
      images=tf.constant([_png(image), _png(image[:, ::-1].copy())]))
  probabilities = out['probabilities'].numpy()
  np.testing.assert_allclose(probabilities[1], probabilities[0][:, ::-1], atol=1e-4)
