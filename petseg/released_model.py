"""Using a released model: find it, say what it is, predict masks for images, evaluate it
on a dataset.

A model directory is either one SavedModel or a serving directory of numbered versions
(TensorFlow Serving's layout), in which case the highest complete version is used, as a
server would. A released version says what it is in its release record.
"""
import collections
import io
import os
import shutil
import tempfile
from typing import Dict, List, Sequence, Tuple

from PIL import Image
import tensorflow as tf

from petseg import config as config_lib
from petseg import errors
from petseg import evaluation
from petseg import overlay
from petseg.components import example_gen
from petseg.components import ingest_report
from petseg.components import release_registry
from petseg.models import export
from petseg.models import features

# Formats the model's own decoder reads; anything else Pillow opens is sent as PNG.
_SERVED_FORMATS = ('JPEG', 'PNG', 'GIF', 'BMP')


def resolve(model_dir: str) -> str:
  """The SavedModel to use: `model_dir` itself, or its highest numbered version."""
  if tf.io.gfile.exists(os.path.join(model_dir, 'saved_model.pb')):
    return model_dir
  if not tf.io.gfile.isdir(model_dir):
    raise errors.ConfigError(f'{model_dir}: no such model directory')
  newest = release_registry.newest_release(model_dir)
  if newest is None:
    raise errors.ConfigError(f'{model_dir}: neither a SavedModel (no saved_model.pb) nor a '
                             'serving directory with numbered versions')
  return os.path.join(model_dir, str(newest))


def describe(model_dir: str) -> Dict:
  """What a released version is, from its release record: the version, the model, when
  and by which run it was released, its test mean IoU and the gate it passed."""
  record = release_registry.read_record(model_dir)
  if record is None:
    return {'model': model_dir, 'release': None}
  return {'model': model_dir, 'release': {
      key: record.get(key) for key in ('version', 'model', 'released_at', 'pipeline',
                                       'pipeline_run', 'data_fingerprint',
                                       'config_fingerprint', 'gate')}
          | {'test_mean_iou': record['test']['mean_iou']}}


def _read_image(path: str) -> Tuple[bytes, Image.Image]:
  """(the bytes the model takes, the decoded image); raises DataError naming the file."""
  try:
    with open(path, 'rb') as f:
      data = f.read()
    image = Image.open(io.BytesIO(data))
    image.load()
  except OSError as e:
    raise errors.DataError(f'{path}: cannot be read as an image ({e})') from None
  if image.format in _SERVED_FORMATS:
    return data, image
  buffer = io.BytesIO()
  image.convert('RGB').save(buffer, format='PNG')
  return buffer.getvalue(), image


def predict(model_dir: str, image_paths: Sequence[str], output_dir: str) -> Dict[str, List]:
  """Writes NAME_mask.png (class ids at the image's size) and NAME_overlay.png (colours
  with a legend) per image. Returns {'written': [...], 'skipped': [(path, reason)]}."""
  stems = collections.Counter(os.path.splitext(os.path.basename(p))[0] for p in image_paths)
  clashes = sorted(p for p in image_paths
                   if stems[os.path.splitext(os.path.basename(p))[0]] > 1)
  if clashes:
    raise errors.ConfigError('images with the same name would overwrite each other\'s '
                             f'masks: {", ".join(clashes)}')
  model_dir = resolve(model_dir)
  labels = export.load_labels(model_dir)
  colours = overlay.class_colours(labels)
  serve = tf.saved_model.load(model_dir).signatures['serving_default']
  os.makedirs(output_dir, exist_ok=True)
  result = {**describe(model_dir), 'written': [], 'skipped': []}
  for path in image_paths:
    try:
      data, image = _read_image(path)
    except errors.DataError as e:
      result['skipped'].append((path, str(e)))
      continue
    class_ids = serve(images=tf.constant([data]))[features.CLASS_IDS][0].numpy()
    stem = os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0])
    Image.fromarray(class_ids).save(f'{stem}_mask.png')
    overlay.with_legend(overlay.overlay(image, class_ids, colours), labels.class_names,
                        colours).save(f'{stem}_overlay.png')
    result['written'].append(f'{stem}_mask.png')
  return result


def evaluate(model_dir: str, dataset: config_lib.DatasetConfig, data_dir: str,
             split: str = 'test', beam_args: Sequence[str] = ()) -> Dict:
  """Ingests the dataset as the pipeline does and scores the model on one split."""
  model_dir = resolve(model_dir)
  labels = export.load_labels(model_dir)
  if labels.class_names != dataset.labels.class_names:
    raise errors.ConfigError(
        f'the model predicts {list(labels.class_names)} but the {dataset.name} data in '
        f'{data_dir} has {list(dataset.labels.class_names)}')
  # Kept when ingestion fails, so that the report its error names is there to read.
  work_dir = tempfile.mkdtemp(prefix='petseg-evaluate-')
  examples = example_gen.ingest(data_dir, dataset, work_dir, beam_args)
  confusion = evaluation.confusion_matrix(
      model_dir, [os.path.join(examples.uri, f'Split-{split}', '*')], labels.num_classes)
  report = ingest_report.load(examples.uri)
  shutil.rmtree(work_dir)
  return {**describe(model_dir), 'dataset': dataset.name, 'data_dir': data_dir, 'split': split,
          'examples': report['splits'][split]['ingested'],
          'rejected': [{'file': r['file'], 'reason': r['reason'], 'detail': r['detail']}
                       for r in report['rejected'] if r['split'] == split],
          **evaluation.scores(confusion, list(labels.class_names)),
          'confusion_matrix': confusion.tolist()}
