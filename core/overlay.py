"""Pictures of class maps: colour masks, overlays on the image, and a legend."""
import struct
from typing import BinaryIO, Iterable, List, Sequence
import zlib

import numpy as np
from PIL import Image
from PIL import ImageDraw

from petseg.core import labels as labels_lib
from petseg.core import storage
from petseg.core.labels import IGNORE_ID

IGNORE_COLOUR = (0, 0, 0)
_SWATCH = 14  # legend swatch size in pixels
_ROW = _SWATCH + 6
_PNG_UP = 2  # the PNG row filter that stores each byte less the byte above it


def class_colours(labels: labels_lib.LabelSpec) -> List[labels_lib.Colour]:
  """The dataset's own colours for colour-coded masks; otherwise VOC's palette from index 1
  (index 0 is black, which would not show on an overlay)."""
  if labels.encoding == 'rgb':
    by_id = {cid: colour for colour, cid in labels.value_to_id.items() if cid != IGNORE_ID}
    return [by_id[i] for i in range(labels.num_classes)]
  return [labels_lib.voc_colour(i + 1) for i in range(labels.num_classes)]


def colour_mask(class_ids: np.ndarray, colours: Sequence[labels_lib.Colour]) -> Image.Image:
  """[H, W] class ids -> an RGB picture; ignored (and unknown) ids are black."""
  table = np.zeros((256, 3), np.uint8)
  table[:] = IGNORE_COLOUR
  table[:len(colours)] = colours
  return Image.fromarray(table[class_ids.astype(np.uint8)])


def overlay(image: Image.Image, class_ids: np.ndarray, colours: Sequence[labels_lib.Colour],
            alpha: float = 0.5) -> Image.Image:
  """The image with each pixel tinted by its class; ignored pixels are left as they are."""
  image = image.convert('RGB')
  tinted = Image.blend(image, colour_mask(class_ids, colours), alpha)
  keep = Image.fromarray(np.where(class_ids == IGNORE_ID, np.uint8(255), np.uint8(0)))
  return Image.composite(image, tinted, keep)


def legend(width: int, names: Sequence[str], colours: Sequence[labels_lib.Colour]) -> Image.Image:
  """The white band that goes below an overlay: each class's name beside its colour."""
  columns = max(1, width // 120)
  band = Image.new('RGB', (width, -(-len(names) // columns) * _ROW + 4), 'white')
  draw = ImageDraw.Draw(band)
  for i, (name, colour) in enumerate(zip(names, colours)):
    x, y = 4 + (i % columns) * 120, 4 + (i // columns) * _ROW
    draw.rectangle([x, y, x + _SWATCH, y + _SWATCH], fill=tuple(colour), outline='black')
    draw.text((x + _SWATCH + 4, y + 1), name, fill='black')
  return band


class _PngRows:
  """An 8-bit grey or RGB PNG written a band of rows at a time ("Up" filter, zlib's
  default level)."""

  def __init__(self, file: BinaryIO, width: int, height: int, channels: int):
    self._file = file
    file.write(b'\x89PNG\r\n\x1a\n')
    colour_type = {1: 0, 3: 2}[channels]  # grey, RGB
    self._chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, colour_type, 0, 0, 0))
    self._compressor = zlib.compressobj()
    self._above = np.zeros((1, width * channels), np.uint8)  # above the first row: zeros

  def _chunk(self, kind: bytes, body: bytes) -> None:
    self._file.write(struct.pack('>I', len(body)) + kind + body +
                     struct.pack('>I', zlib.crc32(kind + body)))

  def write(self, rows: np.ndarray) -> None:
    """rows: uint8 [n, width] or [n, width, 3], as the PNG's channels."""
    flat = rows.reshape(len(rows), -1)
    up = flat - np.concatenate([self._above, flat[:-1]])  # modulo 256, as PNG's filters are
    self._above = flat[-1:].copy()
    filtered = np.concatenate([np.full((len(rows), 1), _PNG_UP, np.uint8), up], axis=1)
    compressed = self._compressor.compress(filtered.tobytes())
    if compressed:
      self._chunk(b'IDAT', compressed)

  def close(self) -> None:
    self._chunk(b'IDAT', self._compressor.flush())
    self._chunk(b'IEND', b'')


def save_mask_and_overlay(mask_path: str, overlay_path: str, pixels: np.ndarray,
                          class_id_bands: Iterable[np.ndarray],
                          colours: Sequence[labels_lib.Colour], names: Sequence[str]) -> None:
  """Writes the class ids as an 8-bit grey PNG at `mask_path`, and overlay() of them on
  the image `pixels` (uint8 [H, W, 3]) with legend() below as the PNG `overlay_path`.
  The class ids come as bands of rows (uint8 [rows, W] each, top to bottom): memory for a
  band, never for a mask or a picture at full size."""
  height, width = pixels.shape[:2]
  out_width = max(width, 120)  # room for one legend entry
  below = legend(out_width, names, colours)
  # Each written beside its path and renamed over it: a link there is replaced, never
  # written through (onto whatever file it shares).
  with storage.replacing(mask_path) as mask_file, \
      storage.replacing(overlay_path) as overlay_file:
    mask = _PngRows(mask_file, width, height, channels=1)
    picture = _PngRows(overlay_file, out_width, height + below.height, channels=3)
    top = 0
    for class_ids in class_id_bands:
      mask.write(class_ids)
      image = Image.fromarray(pixels[top:top + len(class_ids)])
      tinted = np.asarray(overlay(image, class_ids, colours))
      if out_width > width:  # a narrow image: white beside it, above the legend
        tinted = np.pad(tinted, [(0, 0), (0, out_width - width), (0, 0)], constant_values=255)
      picture.write(tinted)
      top += len(class_ids)
    picture.write(np.asarray(below))
    mask.close()
    picture.close()
