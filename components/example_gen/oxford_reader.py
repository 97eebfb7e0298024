"""Reader for the official Oxford-IIIT Pet layout.

  images/NAME.jpg, annotations/trimaps/NAME.png,
  annotations/trainval.txt and test.txt: "NAME CLASS_ID SPECIES BREED_ID" lines, '#' comments.

test.txt is the test split; trainval.txt is carved by name hash into train and eval.
"""
import posixpath
from typing import List, Tuple

from tfx.dsl.io import fileio

from petseg.components.example_gen import items
from petseg.components.example_gen import listing
from petseg.components.example_gen import oxford_lists
from petseg.core import config as config_lib
from petseg.core import errors

IMAGES = 'images'
TRIMAPS = 'annotations/trimaps'
LISTS = (('trainval', 'annotations/trainval.txt'), ('test', 'annotations/test.txt'))


def fingerprint_patterns(config: config_lib.DatasetConfig) -> dict:
  del config  # The layout is fixed.
  return listing.fingerprint_patterns((f'{IMAGES}/*', f'{TRIMAPS}/*', 'annotations/*.txt'))


def _layout_error(path: str, what: str) -> errors.DataError:
  return errors.DataError(
      f'{path}: {what} found; an Oxford-IIIT Pet folder has images/, annotations/trimaps/ '
      'and annotations/trainval.txt, annotations/test.txt or both')


def list_candidates(data_dir: str, config: config_lib.DatasetConfig
                    ) -> Tuple[List[items.Candidate], List[items.Skipped]]:
  """The listed items; a dataset may hold one list only (a new test set: test.txt), and
  then the splits of the other are empty."""
  for rel, what in ((IMAGES, 'no image folder'), (TRIMAPS, 'no trimap folder')):
    if not fileio.exists(posixpath.join(data_dir, rel)):
      raise _layout_error(posixpath.join(data_dir, rel), what)
  lists = [(name, rel) for name, rel in LISTS if fileio.exists(posixpath.join(data_dir, rel))]
  if not lists:
    raise _layout_error(', '.join(posixpath.join(data_dir, rel) for _, rel in LISTS),
                        'no split list')
  wanted, skipped, listed_in = [], [], {}
  for list_name, rel in lists:
    path = posixpath.join(data_dir, rel)
    entries, problems = oxford_lists.parse_list(listing.read_bytes(path))
    split_of = ((lambda name: listing.carve(name, config.eval_fraction))
                if list_name == 'trainval' else (lambda name: 'test'))
    for name, detail in problems:
      skipped.append(items.Skipped(split_of(name), name, path, items.BAD_LIST_LINE, detail))
    for entry in entries:
      if entry.name in listed_in:
        skipped.append(items.Skipped(
            split_of(entry.name), entry.name, path, items.DUPLICATE_NAME,
            f'{entry.name} is listed again in {rel} (already in {listed_in[entry.name]}); '
            'an image in two splits would leak from training into evaluation'))
        continue
      listed_in[entry.name] = rel
      wanted.append((split_of(entry.name), entry.name,
                     (('species', entry.species), ('breed', entry.breed))))
  candidates, unpaired = listing.pair(
      posixpath.join(data_dir, IMAGES), posixpath.join(data_dir, TRIMAPS), lambda stems: wanted,
      listing.outside_data_dir(data_dir, config.follow_symlinks))
  return candidates, skipped + unpaired


def read(pipeline, data_dir: str, config: config_lib.DatasetConfig):
  """The source's reader (components.sources.Reader): the listed items, decoded by Beam."""
  return listing.to_pcollection(pipeline, list_candidates(data_dir, config))
