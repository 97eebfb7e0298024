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

import numpy as np
from PIL import Image
import tensorflow as tf

from petseg.components import decoding
from petseg.components import example_gen
from petseg.components import ingest_report
from petseg.components import overlay
from petseg.components import release_registry
from petseg.core import config as config_lib
from petseg.core import confusion as confusion_lib
from petseg.core import errors
from petseg.core import storage
from petseg.models import evaluation
from petseg.models import export

# Formats the model's own decoder reads; anything else Pillow opens is sent as PNG.
_SERVED_FORMATS = ('JPEG', 'PNG', 'GIF', 'BMP')


def resolve(model_dir: str) -> str:
  """The SavedModel to use: `model_dir` itself, or its highest numbered version (either
  may be in an object store)."""
  model_dir = storage.openable(model_dir)
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


def _read_image(path: str, max_pixels: int) -> Tuple[bytes, Image.Image]:
  """(the bytes the model takes, the decoded image); raises DataError naming the file."""
  try:
    with open(path, 'rb') as f:
      data = f.read()
    image = Image.open(io.BytesIO(data))  # reads the header only
  except decoding.UNREADABLE_ERRORS as e:
    raise errors.DataError(f'{path}: cannot be read as an image ({e})') from None
  width, height = image.size
  if width * height > max_pixels:
    raise errors.DataError(f'{path}: {width}x{height} is {width * height:,} pixels, above the '
                           f'pixel budget of {max_pixels:,} (--max-pixels)')
  try:
    image.load()
  except decoding.UNREADABLE_ERRORS as e:
    raise errors.DataError(f'{path}: cannot be decoded ({e})') from None
  if image.format in _SERVED_FORMATS:
    return data, image
  buffer = io.BytesIO()
  image.convert('RGB').save(buffer, format='PNG')
  return buffer.getvalue(), image


def _probabilities(serve_examples, data: bytes, path: str) -> np.ndarray:
  """The model's [S, S, C] probabilities for one encoded image, at the model's size."""
  example = tf.train.Example(features=tf.train.Features(feature={
      'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}))
  try:
    return serve_examples(examples=tf.constant([example.SerializeToString()]))[
        'probabilities'][0].numpy()
  except tf.errors.OpError as e:  # e.g. a damaged PNG that Pillow decodes
    raise errors.DataError(f'{path}: the model cannot take it '
                           f'({decoding.op_error_reason(e)})') from None


def _bilinear_axis(out_size: int, in_size: int):
  """Source indices and weights of tf.image.resize's bilinear sampling along one axis."""
  source = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
  lower = np.floor(source)
  weight = (source - lower).astype(np.float32)
  return (np.clip(lower, 0, in_size - 1).astype(np.int64),
          np.clip(lower + 1, 0, in_size - 1).astype(np.int64), weight)


def upsampled_class_ids(probabilities: np.ndarray, height: int, width: int,
                        band_rows: int = 256) -> np.ndarray:
  """argmax of the [h, w, C] probabilities resized bilinearly to [height, width] (as the
  serving signature does), a band of rows at a time: memory grows with the uint8 mask,
  not with float probabilities at full size."""
  top, bottom, row_weight = _bilinear_axis(height, probabilities.shape[0])
  left, right, column_weight = _bilinear_axis(width, probabilities.shape[1])
  column_weight = column_weight[np.newaxis, :, np.newaxis]
  rows = probabilities[:, left] * (1 - column_weight) + probabilities[:, right] * column_weight
  class_ids = np.empty((height, width), np.uint8)
  for start in range(0, height, band_rows):
    band = slice(start, start + band_rows)
    weight = row_weight[band, np.newaxis, np.newaxis]
    class_ids[band] = np.argmax(rows[top[band]] * (1 - weight) + rows[bottom[band]] * weight,
                                axis=-1)
  return class_ids


def predict(model_dir: str, image_paths: Sequence[str], output_dir: str,
            max_pixels: int = config_lib.DEFAULT_MAX_PIXELS) -> Dict[str, List]:
  """Writes NAME_mask.png (class ids at the image's size) and NAME_overlay.png (colours
  with a legend) per image. An image that cannot be read or decoded, or has more than
  `max_pixels` pixels, is skipped with its reason. Returns {'written': [...], 'skipped':
  [(path, reason)]}."""
  config_lib.check_number('--max-pixels', max_pixels, 1, integer=True)
  stems = collections.Counter(os.path.splitext(os.path.basename(p))[0] for p in image_paths)
  clashes = sorted(p for p in image_paths
                   if stems[os.path.splitext(os.path.basename(p))[0]] > 1)
  if clashes:
    raise errors.ConfigError('images with the same name would overwrite each other\'s '
                             f'masks: {", ".join(clashes)}')
  model_dir = resolve(model_dir)
  labels = export.load_labels(model_dir)
  colours = overlay.class_colours(labels)
  # At the model's size; upsampled here, a band at a time (serving_default would hold
  # float probabilities at the image's full size).
  serve = tf.saved_model.load(model_dir).signatures['serving_examples']
  os.makedirs(output_dir, exist_ok=True)
  result = {**describe(model_dir), 'written': [], 'skipped': []}
  # The budget replaces Pillow's own guard against decompression bombs: it is checked on
  # the header, before anything is decoded.
  pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
  try:
    for path in image_paths:
      try:
        data, image = _read_image(path, max_pixels)
        probabilities = _probabilities(serve, data, path)
      except errors.DataError as e:
        result['skipped'].append((path, str(e)))
        continue
      class_ids = upsampled_class_ids(probabilities, image.height, image.width)
      stem = os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0])
      Image.fromarray(class_ids).save(f'{stem}_mask.png')
      overlay.with_legend(overlay.overlay(image, class_ids, colours), labels.class_names,
                          colours).save(f'{stem}_overlay.png')
      result['written'].append(f'{stem}_mask.png')
  finally:
    Image.MAX_IMAGE_PIXELS = pillow_limit
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
  examples = example_gen.ingest(storage.openable(data_dir), dataset, work_dir, beam_args,
                                required_splits=[split])
  confusion = evaluation.confusion_matrix(
      model_dir, [os.path.join(examples.uri, f'Split-{split}', '*')], labels.num_classes)
  report = ingest_report.load(examples.uri)
  shutil.rmtree(work_dir)
  return {**describe(model_dir), 'dataset': dataset.name, 'data_dir': data_dir, 'split': split,
          'examples': report.splits[split].ingested,
          'rejected': [{'file': r.file, 'reason': r.reason, 'detail': r.detail}
                       for r in report.rejected if r.split == split],
          **confusion_lib.scores(confusion, list(labels.class_names)),
          'confusion_matrix': confusion.tolist()}
