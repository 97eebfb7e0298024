"""Pictures of class maps: colour masks, overlays on the image, and a legend."""
from typing import List, Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw

from petseg.core import labels as labels_lib
from petseg.core.labels import IGNORE_ID

IGNORE_COLOUR = (0, 0, 0)
_SWATCH = 14  # legend swatch size in pixels
_ROW = _SWATCH + 6


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


def with_legend(picture: Image.Image, names: Sequence[str],
                colours: Sequence[labels_lib.Colour]) -> Image.Image:
  """`picture` with a white band below naming each class beside its colour."""
  columns = max(1, picture.width // 120)
  rows = -(-len(names) // columns)
  out = Image.new('RGB', (max(picture.width, 120), picture.height + rows * _ROW + 4), 'white')
  out.paste(picture, (0, 0))
  draw = ImageDraw.Draw(out)
  for i, (name, colour) in enumerate(zip(names, colours)):
    x = 4 + (i % columns) * 120
    y = picture.height + 4 + (i // columns) * _ROW
    draw.rectangle([x, y, x + _SWATCH, y + _SWATCH], fill=tuple(colour), outline='black')
    draw.text((x + _SWATCH + 4, y + 1), name, fill='black')
  return out
