"""Reader for the official Oxford-IIIT Pet layout.

  images/NAME.jpg, annotations/trimaps/NAME.png,
  annotations/trainval.txt and test.txt: "NAME CLASS_ID SPECIES BREED_ID" lines, '#' comments.

test.txt is the test split; trainval.txt is carved by name hash into train and eval.
"""
import posixpath
from typing import List, Tuple

from tfx.dsl.io import fileio

from petseg import config as config_lib
from petseg import errors
from petseg import oxford_pets
from petseg.components import items
from petseg.components import listing

IMAGES = 'images'
TRIMAPS = 'annotations/trimaps'
LISTS = (('trainval', 'annotations/trainval.txt'), ('test', 'annotations/test.txt'))


def fingerprint_patterns(config: config_lib.DatasetConfig) -> dict:
  del config  # The layout is fixed.
  return listing.fingerprint_patterns((f'{IMAGES}/*', f'{TRIMAPS}/*', 'annotations/*.txt'))


def _require(path: str, what: str) -> None:
  if not fileio.exists(path):
    raise errors.DataError(
        f'{path}: {what} not found; an Oxford-IIIT Pet folder has images/, '
        'annotations/trimaps/, annotations/trainval.txt and annotations/test.txt')


def list_candidates(data_dir: str, config: config_lib.DatasetConfig
                    ) -> Tuple[List[items.Candidate], List[items.Skipped]]:
  for rel, what in ((IMAGES, 'image folder'), (TRIMAPS, 'trimap folder')):
    _require(posixpath.join(data_dir, rel), what)
  wanted, skipped, listed_in = [], [], {}
  for list_name, rel in LISTS:
    path = posixpath.join(data_dir, rel)
    _require(path, 'split list')
    entries, problems = oxford_pets.parse_list(listing.read_text(path), path)
    split_of = ((lambda name: listing.carve(name, config.eval_fraction))
                if list_name == 'trainval' else (lambda name: 'test'))
    for name, detail in problems:
      skipped.append(items.Skipped(split_of(name), name, path, items.BAD_LIST_LINE, detail))
    for entry in entries:
      if entry.name in listed_in:
        skipped.append(items.Skipped(
            split_of(entry.name), entry.name, path, items.DUPLICATE_NAME,
            f'listed again in {rel} (already in {listed_in[entry.name]})'))
        continue
      listed_in[entry.name] = rel
      wanted.append((split_of(entry.name), entry.name,
                     (('species', entry.species), ('breed', entry.breed))))
  candidates, unpaired = listing.pair(posixpath.join(data_dir, IMAGES),
                                      posixpath.join(data_dir, TRIMAPS), lambda stems: wanted)
  return candidates, skipped + unpaired
