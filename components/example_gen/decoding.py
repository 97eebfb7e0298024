"""One candidate image/mask pair -> one tf.train.Example, or a Rejected error saying why.

The record contract (README, "Records"):
  image         the original JPEG or PNG bytes, unchanged; any other format or a mode that
                standard decoders would read differently (alpha, palette, CMYK, 16-bit) is
                re-encoded losslessly as an 8-bit RGB PNG, and the conversion is reported
  image_format  b'jpeg' or b'png'
  mask          PNG of class ids 0..C-1, IGNORE_ID (255) where nothing is to be learnt
  height, width the image's own size (the mask has the same)
  file_name     the image's file name
  ...           per-dataset metadata (Oxford-IIIT Pet: species, breed)
"""
import io
import re
from typing import Optional, Tuple

import numpy as np
from PIL import Image
import tensorflow as tf

from petseg.components.example_gen import items
from petseg.core import features
from petseg.core import labels as labels_lib

# Formats and modes whose bytes every standard decoder turns into the same RGB pixels.
_KEPT_AS_IS = {('JPEG', 'RGB'), ('JPEG', 'L'), ('PNG', 'RGB'), ('PNG', 'L')}
_SIXTEEN_BIT_MODES = ('I;16', 'I;16B', 'I;16L', 'I')
# What Pillow raises for a file it cannot read as an image.
UNREADABLE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
# Integer masks are at most 16-bit; larger values can only be outside the label set.
_LUT_SIZE = 1 << 16


def _open(data: bytes, path: str, reason: str, load: bool = True) -> Image.Image:
  """Opens `data` and, with `load`, decodes it fully, so that truncated files fail here."""
  try:
    img = Image.open(io.BytesIO(data))
    if load:
      img.load()
  except UNREADABLE_ERRORS as e:
    raise items.Rejected(reason, path, f'cannot be decoded ({e})') from None
  if getattr(img, 'n_frames', 1) > 1:
    raise items.Rejected(reason, path, f'is animated ({img.n_frames} frames); '
                         'a segmentation pair needs a single frame')
  return img


def op_error_reason(error: tf.errors.OpError) -> str:
  """What a TensorFlow op says went wrong, without the function and op names, nodes and
  stack around it (eager and graph execution word it differently)."""
  lines = [re.sub(r'\{\{function_node [^}]*\}\}', '', line).split(' [Op:')[0].strip()
           for line in error.message.splitlines()]
  said = [line for line in lines if line and not line.startswith(
      ('Graph execution error', 'Detected at node', '<stack traces', '[[', 'File '))]
  return said[-1] if said else error.message


def tf_decoder_error(data: bytes) -> Optional[str]:
  """Why the pipeline's own decoder (features.decode_image) refuses `data`, or None.

  Pillow is more lenient (it ignores a PNG's data checksums, for one), so what is kept
  as is must pass the decoder that Transform and serving use.
  """
  try:
    features.decode_image(data)
  except tf.errors.OpError as e:
    return op_error_reason(e)
  return None


def _png_bit_depth(data: bytes) -> int:
  return data[24] if data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 24 else 8


def _png_bytes(img: Image.Image) -> bytes:
  out = io.BytesIO()
  img.save(out, format='PNG')
  return out.getvalue()


def _flatten_alpha(img: Image.Image, path: str) -> Image.Image:
  """Drops an alpha channel only when every pixel is opaque, so that nothing changes."""
  rgba = img.convert('RGBA')
  alpha = np.asarray(rgba)[..., 3]
  if alpha.min() < 255:
    raise items.Rejected(
        items.UNSUPPORTED_MODE, path,
        f'has {np.mean(alpha < 255):.1%} transparent pixels ({img.mode}); their colour is '
        'undefined, so the image cannot be flattened to RGB safely')
  return rgba.convert('RGB')


def _has_alpha(img: Image.Image) -> bool:
  return img.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La') or 'transparency' in img.info


def read_image(data: bytes, path: str) -> Tuple[bytes, str, Tuple[int, int], Optional[str]]:
  """Returns (encoded bytes, 'jpeg'|'png', (width, height), conversion note or None)."""
  img = _open(data, path, items.UNREADABLE_IMAGE, load=False)
  bit_depth = _png_bit_depth(data) if img.format == 'PNG' else 8
  if (img.format, img.mode) in _KEPT_AS_IS and bit_depth == 8 and not _has_alpha(img):
    problem = tf_decoder_error(data)
    if problem:
      _open(data, path, items.UNREADABLE_IMAGE)  # Pillow's reason, when it has one, is clearer
      raise items.Rejected(items.UNREADABLE_IMAGE, path,
                           f'cannot be decoded by TensorFlow ({problem}); a damaged file '
                           '(e.g. a bad checksum) that other viewers may still show')
    return data, img.format.lower(), img.size, None
  img = _open(data, path, items.UNREADABLE_IMAGE)  # converted: Pillow decodes it
  if _has_alpha(img):
    rgb = _flatten_alpha(img, path)
  elif img.mode in _SIXTEEN_BIT_MODES:
    values = np.asarray(img, dtype=np.int64)
    if values.min() < 0 or values.max() > 65535:
      raise items.Rejected(items.UNSUPPORTED_MODE, path,
                           f'is a {img.mode} image with values outside 0..65535')
    rgb = Image.fromarray((values >> 8).astype(np.uint8)).convert('RGB')
  elif img.mode in ('RGB', 'L', 'P', '1', 'CMYK', 'YCbCr', 'LAB', 'HSV'):
    rgb = img.convert('RGB')
  else:
    raise items.Rejected(items.UNSUPPORTED_MODE, path,
                         f'has pixel mode {img.mode}, which has no safe 8-bit RGB form')
  depth = f'{bit_depth}-bit ' if bit_depth != 8 else ''
  note = f'{depth}{img.format} {img.mode} re-encoded as 8-bit RGB PNG'
  return _png_bytes(rgb), 'png', img.size, note


def _mask_values(img: Image.Image, labels: labels_lib.LabelSpec, path: str) -> np.ndarray:
  """The mask's raw values: integers (H, W) or packed 0xRRGGBB colours (H, W)."""
  if _has_alpha(img) and img.mode != 'P':
    img = _flatten_alpha(img, path)
  if labels.encoding == 'rgb':
    rgb = np.asarray(img.convert('RGB'), dtype=np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
  if img.mode in ('L', 'P', '1') or img.mode in _SIXTEEN_BIT_MODES:
    return np.asarray(img, dtype=np.int64)
  if img.mode == 'RGB':
    rgb = np.asarray(img)
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
      return rgb[..., 0].astype(np.int64)
    raise items.Rejected(items.UNSUPPORTED_MODE, path,
                         'is a colour mask, but this dataset reads class ids from grey '
                         'levels; give the dataset a palette to read colour masks')
  raise items.Rejected(items.UNSUPPORTED_MODE, path, f'has mask pixel mode {img.mode}')


def _describe(value: int, encoding: str) -> str:
  if encoding == 'rgb':
    return f'({value >> 16}, {(value >> 8) & 255}, {value & 255})'
  return str(value)


def _class_ids(values: np.ndarray, known: dict, encoding: str) -> np.ndarray:
  """Maps raw values to class ids in one pass; -1 marks values outside the label set."""
  if encoding == 'rgb':  # Few colours: one comparison each beats sorting the pixels.
    ids = np.full(values.shape, -1, np.int16)
    for value, cid in known.items():
      ids[values == value] = cid
    return ids
  lut = np.full(_LUT_SIZE, -1, np.int16)
  for value, cid in known.items():
    if 0 <= value < _LUT_SIZE:
      lut[value] = cid
  in_range = (values >= 0) & (values < _LUT_SIZE)
  return np.where(in_range, lut[np.where(in_range, values, 0)], -1).astype(np.int16)


def read_mask(data: bytes, path: str, labels: labels_lib.LabelSpec,
              image_size: Tuple[int, int]) -> bytes:
  """Maps the mask onto class ids and returns it as an 8-bit PNG."""
  img = _open(data, path, items.UNREADABLE_MASK)
  if img.size != image_size:
    raise items.Rejected(items.SIZE_MISMATCH, path,
                         'mask is {}x{} but its image is {}x{}'.format(*img.size, *image_size))
  values = _mask_values(img, labels, path)
  if labels.encoding == 'rgb':
    known = {(r << 16) | (g << 8) | b: cid for (r, g, b), cid in labels.value_to_id.items()}
  else:
    known = dict(labels.value_to_id)
  ids = _class_ids(values, known, labels.encoding)
  if (ids < 0).any():
    unknown = [int(v) for v in np.unique(values[ids < 0])]
    what = 'colours' if labels.encoding == 'rgb' else 'values'
    shown = ', '.join(_describe(v, labels.encoding) for v in unknown[:8])
    more = f' and {len(unknown) - 8} more' if len(unknown) > 8 else ''
    raise items.Rejected(items.UNKNOWN_MASK_VALUES, path,
                         f'has mask {what} outside the label set: {shown}{more}')
  return _png_bytes(Image.fromarray(ids.astype(np.uint8), mode='L'))


def _bytes_feature(value: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int_feature(value: int) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _read(path: str, given: Optional[bytes], reason: str) -> bytes:
  if given is not None:
    return given
  try:
    with tf.io.gfile.GFile(path, 'rb') as f:
      return f.read()
  except tf.errors.OpError as e:
    raise items.Rejected(reason, path, f'cannot be read ({e.message})') from None


def to_example(candidate: items.Candidate,
               labels: labels_lib.LabelSpec) -> Tuple[bytes, Optional[str]]:
  """Returns the serialized tf.train.Example and the image's conversion note, if any."""
  image_data = _read(candidate.image_path, candidate.image_bytes, items.UNREADABLE_IMAGE)
  image, image_format, size, note = read_image(image_data, candidate.image_path)
  mask_data = _read(candidate.mask_path, candidate.mask_bytes, items.UNREADABLE_MASK)
  mask = read_mask(mask_data, candidate.mask_path, labels, size)
  feature_map = {
      'image': _bytes_feature(image),
      'image_format': _bytes_feature(image_format.encode()),
      'mask': _bytes_feature(mask),
      'width': _int_feature(size[0]),
      'height': _int_feature(size[1]),
      features.FILE_NAME: _bytes_feature(candidate.image_path.rsplit('/', 1)[-1].encode()),
  }
  for key, value in candidate.metadata:
    feature_map[key] = _bytes_feature(value.encode())
  example = tf.train.Example(features=tf.train.Features(feature=feature_map))
  return example.SerializeToString(), note
