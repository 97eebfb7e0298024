"""What the pixels of each dataset's masks mean, and how they become class ids.

Every ingested mask holds class ids 0..C-1, with IGNORE_ID for pixels that neither the
loss nor the metrics count. A LabelSpec maps a dataset's own mask values (grey levels or
RGB colours) onto that contract; a value it does not map is an error, never a guess.
"""
import dataclasses
from typing import Mapping, Sequence, Tuple, Union

from petseg.core import errors
from petseg.core import text

IGNORE_ID = 255

Colour = Tuple[int, int, int]
MaskValue = Union[int, Colour]


@dataclasses.dataclass(frozen=True)
class LabelSpec:
  """Class names and the map from a dataset's mask values to class ids.

  `encoding` is 'class_ids' when mask pixels are integers (8- or 16-bit grey or palette
  indices) and 'rgb' when they are colours; `value_to_id` is keyed accordingly.
  """
  class_names: Tuple[str, ...]
  encoding: str
  value_to_id: Mapping[MaskValue, int]

  def __post_init__(self):
    if self.encoding not in ('class_ids', 'rgb'):
      raise errors.ConfigError(f'mask encoding must be class_ids or rgb, not {self.encoding!r}')
    for name in self.class_names:
      if not isinstance(name, str) or not name.strip():
        raise errors.ConfigError(f'class_names: {name!r} is not a name (each class has its '
                                 'own iou/NAME metric)')
      text.one_line(name, 'class_names')
    repeated = _repeated(self.class_names)
    if repeated:
      raise errors.ConfigError(f'class_names: {", ".join(map(repr, repeated))} named more than '
                               'once (each class has its own iou/NAME metric)')
    allowed = set(range(len(self.class_names))) | {IGNORE_ID}
    wrong = sorted(set(self.value_to_id.values()) - allowed)
    if wrong:
      raise errors.ConfigError(f'class ids {wrong} are outside 0..{len(self.class_names) - 1} '
                       f'and the ignore id {IGNORE_ID}')

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def to_json(self) -> dict:
    if self.encoding == 'rgb':
      values = [[list(colour), cid] for colour, cid in sorted(self.value_to_id.items())]
    else:
      values = sorted([value, cid] for value, cid in self.value_to_id.items())
    return {'class_names': list(self.class_names), 'encoding': self.encoding,
            'value_to_id': values}

  @classmethod
  def from_json(cls, data: Mapping) -> 'LabelSpec':
    encoding = data['encoding']
    key = (lambda v: tuple(v)) if encoding == 'rgb' else int
    return cls(tuple(data['class_names']), encoding,
               {key(value): int(cid) for value, cid in data['value_to_id']})


def _repeated(values: Sequence) -> list:
  """The values that occur more than once, in order of first occurrence."""
  seen, repeated = set(), []
  for value in values:
    if value in seen and value not in repeated:
      repeated.append(value)
    seen.add(value)
  return repeated


def class_id_labels(class_names: Sequence[str],
                    ignore_values: Sequence[int] = (IGNORE_ID,)) -> LabelSpec:
  """Masks whose pixel value is the class id; `ignore_values` become IGNORE_ID (none of
  them may be a class id: that class would never be learnt nor scored)."""
  value_to_id = {i: i for i in range(len(class_names))}
  clashes = sorted({int(v) for v in ignore_values} & set(value_to_id))
  if clashes:
    raise errors.ConfigError(
        f'ignore_values: {clashes} {"is a class id" if len(clashes) == 1 else "are class ids"} '
        f'({", ".join(repr(class_names[v]) for v in clashes)}); ignored values must lie '
        f'outside 0..{len(class_names) - 1}')
  value_to_id.update({int(v): IGNORE_ID for v in ignore_values})
  return LabelSpec(tuple(class_names), 'class_ids', value_to_id)


def palette_labels(class_colours: Sequence[Tuple[str, Colour]],
                   ignore_colours: Sequence[Colour] = ()) -> LabelSpec:
  """Colour-coded masks: each class has one RGB colour; `ignore_colours` become IGNORE_ID.
  Every colour means one thing: a colour given twice is refused."""
  colours = [tuple(colour) for _, colour in class_colours]
  repeated = _repeated(colours + [tuple(c) for c in ignore_colours])
  if repeated:
    raise errors.ConfigError(f'palette: colour {", ".join(map(str, repeated))} given more than '
                             'once (among the classes and ignore_colours); each colour '
                             'must mean one thing')
  value_to_id = {colour: i for i, colour in enumerate(colours)}
  value_to_id.update({tuple(c): IGNORE_ID for c in ignore_colours})
  return LabelSpec(tuple(name for name, _ in class_colours), 'rgb', value_to_id)


def oxford_trimap_labels(border_as_ignore: bool = False) -> LabelSpec:
  """Oxford-IIIT Pet trimaps: 1 pet, 2 background, 3 border (the unclassified band)."""
  if border_as_ignore:
    return LabelSpec(('pet', 'background'), 'class_ids', {1: 0, 2: 1, 3: IGNORE_ID})
  return LabelSpec(('pet', 'background', 'border'), 'class_ids', {1: 0, 2: 1, 3: 2})


# CamVid as prepared for SegNet: ids 0..10 are classes, 11 is "void", which published
# CamVid results leave out of the mean IoU.
CAMVID_CLASSES = ('sky', 'building', 'pole', 'road', 'pavement', 'tree', 'sign_symbol',
                  'fence', 'car', 'pedestrian', 'bicyclist')
CAMVID_VOID = 11


def camvid_labels() -> LabelSpec:
  return class_id_labels(CAMVID_CLASSES, ignore_values=(CAMVID_VOID, IGNORE_ID))


VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


def voc_colour(index: int) -> Colour:
  """Pascal VOC's colour for a palette index: the index's bits spread over R, G and B."""
  r = g = b = 0
  for shift in range(8):
    r |= ((index >> (3 * shift)) & 1) << (7 - shift)
    g |= ((index >> (3 * shift + 1)) & 1) << (7 - shift)
    b |= ((index >> (3 * shift + 2)) & 1) << (7 - shift)
  return (r, g, b)


def voc_labels() -> LabelSpec:
  """Pascal VOC's 21 colours; the object outlines (index 255, cream) are ignored."""
  return palette_labels([(name, voc_colour(i)) for i, name in enumerate(VOC_CLASSES)],
                        ignore_colours=[voc_colour(IGNORE_ID)])
