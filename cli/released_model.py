"""Using a released model: find it, say what it is, predict masks for images, evaluate it
on a dataset.

A model directory is either one SavedModel or a serving directory of numbered versions
(TensorFlow Serving's layout), in which case the highest complete version is used, as a
server would. A released version says what it is in its release record.
"""
import collections
import dataclasses
import io
import os
import shutil
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image
import tensorflow as tf

from petseg.components.example_gen import component as example_gen
from petseg.components.example_gen import decoding
from petseg.components.example_gen import items
from petseg.core import config as config_lib
from petseg.core import confusion as confusion_lib
from petseg.core import errors
from petseg.core import features
from petseg.core import overlay
from petseg.core import records
from petseg.core import storage
from petseg.models import export
from petseg.models import input_pipeline
from petseg.models import scoring
from petseg.records import ingest_report
from petseg.records import summary as run_summary
from petseg.registry import versions as release_registry


def resolve(model_dir: str) -> str:
  """The SavedModel to use: `model_dir` itself, or its highest numbered version (either
  may be in an object store), checked (DataError naming it when it is damaged)."""
  model_dir = storage.openable(model_dir)
  if not tf.io.gfile.exists(os.path.join(model_dir, release_registry.SAVED_MODEL)):
    if not tf.io.gfile.isdir(model_dir):
      raise errors.ConfigError(f'{model_dir}: no such model directory')
    newest = release_registry.newest_release(model_dir)
    if newest is None:
      raise errors.ConfigError(f'{model_dir}: neither a SavedModel (no saved_model.pb) nor a '
                               'serving directory with numbered versions')
    model_dir = os.path.join(model_dir, str(newest))
  release_registry.check_version(model_dir)
  return model_dir


def release_json(record: Optional[run_summary.RunSummary]) -> Optional[Dict[str, Any]]:
  """What `predict` and `evaluate` print of a version's release record: the version, the
  model, when and by which run it was released, its test mean IoU and the gate it passed."""
  if record is None:
    return None
  return {'version': record.version, 'model': record.model,
          'released_at': record.released_at, 'pipeline': record.pipeline,
          'pipeline_run': record.pipeline_run, 'data_fingerprint': record.data_fingerprint,
          'config_fingerprint': record.config_fingerprint, 'gate': records.encode(record.gate),
          'test_mean_iou': record.test.mean_iou}


@dataclasses.dataclass(frozen=True)
class Prediction:
  """What `predict` did with a model (`model`, the SavedModel used, and its release record,
  None for a model released without one): the masks written, the images skipped with
  their reasons (each names its file), the images turned upright by their EXIF
  orientation."""
  model: str
  record: Optional[run_summary.RunSummary]
  written: List[str] = dataclasses.field(default_factory=list)
  skipped: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
  upright: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """A model's scores on one split of a dataset, ingested as the pipeline ingests it."""
  model: str
  record: Optional[run_summary.RunSummary]
  dataset: str
  data_dir: str
  split: str
  at_own_size: bool
  examples: int  # ingested from the split
  rejected: List[ingest_report.Skipped]
  mean_iou: Optional[float]
  per_class_iou: Dict[str, Optional[float]]
  pixel_accuracy: float
  intervals: Dict[str, Any]  # 95%, as scoring.intervals gives them
  confusion_matrix: List[List[int]]

  def to_json(self) -> Dict[str, Any]:
    """As `petseg evaluate` prints it: the release record shown as release_json does."""
    shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name != 'record'}
    return {**shown, 'release': release_json(self.record),
            'rejected': [{'file': r.file, 'reason': r.reason, 'detail': r.detail}
                         for r in self.rejected]}


# EXIF orientation -> the turn that shows the image as its camera meant (EXIF 2.3, 0x0112).
_ORIENTATION = 0x0112
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


def _read_image(path: str, max_pixels: int) -> Tuple[bytes, bool]:
  """(the bytes the model takes, upright as the image's EXIF orientation shows it; whether
  that orientation turned it). The pixel budget is checked on the header; then the image
  passes ingestion's rules (decoding.read_image: transparency refused, odd modes
  converted). Nothing decoded is kept: the bytes are all a prediction holds while the
  model runs. Raises DataError naming the file."""
  data = None
  try:
    with open(path, 'rb') as f:
      data = f.read()
    header = Image.open(io.BytesIO(data))  # reads the header only
  except decoding.UNREADABLE_ERRORS as e:
    # Pillow's own words name its buffer object, not the file.
    why = ('the file is empty' if data == b'' else
           'not an image in a format Pillow knows' if isinstance(e, Image.UnidentifiedImageError)
           else e)
    raise errors.DataError(f'{path}: cannot be read as an image ({why})') from None
  width, height = header.size
  if width * height > max_pixels:
    raise errors.DataError(f'{path}: {width}x{height} is {width * height:,} pixels, above the '
                           f'pixel budget of {max_pixels:,} (--max-pixels)')
  try:
    data = decoding.read_image(data, path)[0]
  except items.Rejected as r:
    raise errors.DataError(f'{path}: {r.detail}') from None
  turn = _UPRIGHT.get(header.getexif().get(_ORIENTATION))
  if turn is None:
    return data, False
  buffer = io.BytesIO()
  Image.fromarray(_pixels(data)).transpose(turn).save(buffer, format='PNG')
  return buffer.getvalue(), True


def _pixels(data: bytes) -> np.ndarray:
  """uint8 [H, W, 3]: the pixels of image bytes that passed _read_image, by the model's
  own decoder, so the pixels it saw. 3 bytes a pixel, where Pillow keeps RGB in 4, in
  memory that TensorFlow's allocator keeps after a prediction anyway."""
  return features.decode_image(tf.constant(data)).numpy()


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


# predict's outputs are made a band of about this many pixels at a time.
_BAND_PIXELS = 2**18


def _bilinear_axis(out_size: int, in_size: int):
  """Source indices and weights of tf.image.resize's bilinear sampling along one axis,
  computed as its kernel computes them (float32, half-pixel centres)."""
  scale = np.float32(in_size) / np.float32(out_size)
  source = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
  lower = np.floor(source)
  return (np.clip(lower, 0, in_size - 1).astype(np.int64),
          np.clip(np.ceil(source), 0, in_size - 1).astype(np.int64), source - lower)


def class_id_bands(probabilities: np.ndarray, height: int, width: int,
                   band_rows: int) -> Iterator[np.ndarray]:
  """argmax of the [h, w, C] probabilities resized bilinearly to [height, width], as
  uint8 bands of `band_rows` rows, top to bottom: the serving signature's class ids, to
  the bit (the same float32 operations in the same order as TensorFlow's kernel: along
  rows, then between them). Memory for a band of float probabilities at full width,
  never for the whole image."""
  probabilities = probabilities.astype(np.float32, copy=False)
  top, bottom, row_weight = _bilinear_axis(height, probabilities.shape[0])
  left, right, column_weight = _bilinear_axis(width, probabilities.shape[1])
  column_weight = column_weight[np.newaxis, :, np.newaxis]
  rows = probabilities[:, left] + (probabilities[:, right] - probabilities[:, left]) * column_weight
  for start in range(0, height, band_rows):
    band = slice(start, start + band_rows)
    upper = rows[top[band]]
    yield np.argmax(upper + (rows[bottom[band]] - upper) * row_weight[band, np.newaxis, np.newaxis],
                    axis=-1).astype(np.uint8)


def _outputs(image_path: str, output_dir: str) -> Tuple[str, str]:
  """The mask and overlay that predict() writes for an image."""
  stem = os.path.join(output_dir, os.path.splitext(os.path.basename(image_path))[0])
  return f'{stem}_mask.png', f'{stem}_overlay.png'


def _identity(path: str) -> Tuple[Any, ...]:
  """What makes `path` the file it is: its device and inode when it exists (hard and
  symbolic links to a file share them), its real path otherwise."""
  try:
    info = os.stat(path)
  except OSError:
    return ('path', os.path.realpath(path))
  return ('inode', info.st_dev, info.st_ino)


def _check_outputs(outputs: Dict[str, Tuple[str, str]], overwrite: bool) -> None:
  """Refuses, before anything is written, outputs that would overwrite each other, an
  input, or (unless `overwrite`) any file that exists."""
  written = collections.Counter(os.path.realpath(o) for pair in outputs.values() for o in pair)
  clashes = sorted(p for p, pair in outputs.items()
                   if any(written[os.path.realpath(o)] > 1 for o in pair))
  if clashes:
    raise errors.ConfigError('images with the same name would overwrite each other\'s '
                             f'masks: {", ".join(clashes)}')
  inputs = {_identity(p): p for p in outputs}  # a link to an input is the input
  for path, pair in outputs.items():
    for output in pair:
      written_over = inputs.get(_identity(output))
      if written_over is not None:
        raise errors.ConfigError(
            f'{written_over}: is an input and would be overwritten by the output for {path}'
            + ('' if os.path.abspath(output) == os.path.abspath(written_over) else
               f' (it is the same file as {output})') + '; give another --output-dir')
  if not overwrite:
    existing = [o for pair in outputs.values() for o in pair if os.path.lexists(o)]
    if existing:
      raise errors.ConfigError(
          f'{existing[0]}: exists ({len(existing)} of the outputs do); predict does not '
          'overwrite files: pass --overwrite, or give another --output-dir')


def predict(model_dir: str, image_paths: Sequence[str], output_dir: str,
            max_pixels: int = config_lib.DEFAULT_MAX_PIXELS,
            overwrite: bool = False) -> Prediction:
  """Writes NAME_mask.png (class ids at the image's size) and NAME_overlay.png (colours
  with a legend) per image, both upright as the image's EXIF orientation shows it. An
  image that cannot be read or decoded, that ingestion would refuse, or that has more than
  `max_pixels` pixels, is skipped with its reason. Refuses (ConfigError) to write over an
  input, or over a file that exists, unless `overwrite`. Says what it did in a
  Prediction."""
  config_lib.check_number('--max-pixels', max_pixels, 1, integer=True)
  outputs = {path: _outputs(path, output_dir) for path in image_paths}
  _check_outputs(outputs, overwrite)
  model_dir = resolve(model_dir)
  labels = export.load_labels(model_dir)
  colours = overlay.class_colours(labels)
  # At the model's size; upsampled here, a band at a time (serving_default would hold
  # float probabilities at the image's full size).
  serve = tf.saved_model.load(model_dir).signatures['serving_examples']
  os.makedirs(output_dir, exist_ok=True)
  result = Prediction(model_dir, release_registry.read_record(model_dir))
  # The budget replaces Pillow's own guard against decompression bombs: it is checked on
  # the header, before anything is decoded.
  pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
  try:
    for path in image_paths:
      try:
        data, turned = _read_image(path, max_pixels)
        probabilities = _probabilities(serve, data, path)
      except errors.DataError as e:
        result.skipped.append((path, str(e)))
        continue
      pixels = _pixels(data)  # decoded again only now, after the model ran
      height, width = pixels.shape[:2]
      mask_path, overlay_path = outputs[path]
      overlay.save_mask_and_overlay(
          mask_path, overlay_path, pixels,
          class_id_bands(probabilities, height, width, max(1, _BAND_PIXELS // width)),
          colours, labels.class_names)
      result.written.append(mask_path)
      if turned:
        result.upright.append(path)
  finally:
    Image.MAX_IMAGE_PIXELS = pillow_limit
  return result


def evaluate(model_dir: str, dataset: config_lib.DatasetConfig, data_dir: str,
             split: str = 'test', beam_args: Sequence[str] = (),
             at_own_size: bool = False) -> Evaluation:
  """Ingests the dataset as the pipeline does and scores the model on one split: at the
  model's image size, as the release gate does, or `at_own_size`, the masks it serves
  against the original masks at each image's size."""
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
  scored = scoring.image_matrices(
      model_dir, [input_pipeline.split_pattern(examples.uri, split)], labels.num_classes,
      at_own_size=at_own_size)
  report = ingest_report.load(examples.uri)
  shutil.rmtree(work_dir)
  return Evaluation(
      model=model_dir, record=release_registry.read_record(model_dir), dataset=dataset.name,
      data_dir=data_dir, split=split, at_own_size=at_own_size,
      examples=report.splits[split].ingested,
      rejected=[r for r in report.rejected if r.split == split],
      **confusion_lib.scores(scored.confusion, list(labels.class_names)),
      intervals=scoring.intervals([scored], labels.class_names)[0],
      confusion_matrix=scored.confusion.tolist())
