"""Listing a dataset's files: pairing images with masks by name, carving splits by hash.

Listing happens where the Beam pipeline is built and only stats directories; reading and
decoding the files happens in the Beam workers.
"""
import collections
import hashlib
import itertools
import os
import posixpath
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import apache_beam as beam
from tfx.dsl.io import fileio

from petseg.components.example_gen import items
from petseg.core import storage
from petseg.records.ingest_report import SPLITS  # noqa: F401  pylint: disable=unused-import

_MACOS_METADATA = ('._', '.DS_Store')

# A split's metadata: (key, value) pairs that become string features of its examples.
Metadata = Tuple[Tuple[str, str], ...]


def hash_fraction(name: str) -> float:
  """A number in [0, 1) fixed by the name alone, so splits never depend on file order."""
  return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], 'big') / 2**64


def carve(name: str, eval_fraction: float, test_fraction: float = 0.0) -> str:
  """'eval', 'test' or 'train' for a name, by its hash."""
  h = hash_fraction(name)
  if h < eval_fraction:
    return 'eval'
  return 'test' if h < eval_fraction + test_fraction else 'train'


def fingerprint_patterns(globs: Sequence[str]) -> Dict[str, str]:
  """One glob per split for ExampleGen's driver, which fingerprints the files they match.

  The reader decides what each split holds; these globs only have to cover, together,
  every file that the splits read, so that changing any image, mask or list invalidates
  the cache. (The driver takes one glob per split and has no '{a,b}' alternation.)
  """
  return dict(zip(SPLITS, itertools.islice(itertools.cycle(globs), len(SPLITS))))


def files_by_stem(directory: str) -> Tuple[Dict[str, List[str]], List[items.Skipped]]:
  """Maps each file stem in `directory` to its paths; macOS metadata files are skipped."""
  by_stem, skipped = collections.defaultdict(list), []
  if not fileio.isdir(directory):
    return {}, []
  for filename in sorted(fileio.listdir(directory)):
    filename = filename.rstrip('/')
    path = posixpath.join(directory, filename)
    if filename.startswith(_MACOS_METADATA):
      skipped.append(items.Skipped(None, filename, path, items.MACOS_METADATA,
                                   'macOS metadata file, not an image'))
      continue
    by_stem[posixpath.splitext(filename)[0]].append(path)
  return dict(by_stem), skipped


def outside_data_dir(data_dir: str, follow_symlinks: bool) -> Callable[[str], Optional[str]]:
  """A check of a file's path: its real path when a symlink takes it out of `data_dir`
  (which is then not read unless `follow_symlinks`), else None. Remote paths have none."""
  if follow_symlinks or not storage.of(data_dir).local:
    return lambda path: None
  root = os.path.realpath(data_dir)

  def check(path: str) -> Optional[str]:
    real = os.path.realpath(path)
    return None if os.path.commonpath([root, real]) == root else real
  return check


def _single(paths: Sequence[str], name: str, directory: str, what: str, missing: str,
            outside: Callable[[str], Optional[str]]):
  """The one file for a name, or why there is not one: (path, None) or (None, (reason,
  file, detail))."""
  if not paths:
    return None, (missing, posixpath.join(directory, name + '.*'),
                  f'no {what} named {name}.* in {directory}')
  if len(paths) > 1:
    return None, (items.DUPLICATE_NAME, paths[0],
                  f'several {what}s share the name {name}: {", ".join(paths)}')
  real = outside(paths[0])
  if real:
    return None, (items.OUTSIDE_DATA_DIR, paths[0],
                  f'resolves through a symlink to {real}, outside the data directory; '
                  'pass --follow-symlinks to read it')
  return paths[0], None


Wanted = List[Tuple[str, str, Metadata]]


def pair(image_dir: str, mask_dir: str, choose: Callable[[Set[str]], Wanted],
         outside: Callable[[str], Optional[str]]
         ) -> Tuple[List[items.Candidate], List[items.Skipped]]:
  """Candidates for the (split, name, metadata) that `choose` wants of the files' stems.

  Every file is accounted for: a wanted name without exactly one image and one mask
  inside the data directory (see `outside_data_dir`) is rejected once, and a file whose
  name nobody wanted is reported as in no list.
  """
  images, skipped = files_by_stem(image_dir)
  masks, skipped_masks = files_by_stem(mask_dir)
  skipped += skipped_masks
  candidates, used = [], set()
  for split, name, metadata in choose(set(images) | set(masks)):
    used.add(name)
    image, image_problem = _single(images.get(name, ()), name, image_dir, 'image',
                                   items.MISSING_IMAGE, outside)
    mask, mask_problem = _single(masks.get(name, ()), name, mask_dir, 'mask',
                                 items.MISSING_MASK, outside)
    problems = [p for p in (image_problem, mask_problem) if p]
    if problems:  # One rejection per item, naming the first file at fault.
      reason, file, _ = problems[0]
      skipped.append(items.Skipped(split, name, file, reason,
                                   '; '.join(detail for _, _, detail in problems)))
      continue
    candidates.append(items.Candidate(split, name, image, mask, metadata))
  for by_stem in (images, masks):
    for stem in sorted(set(by_stem) - used):
      for path in by_stem[stem]:
        skipped.append(items.Skipped(None, stem, path, items.NOT_IN_ANY_LIST,
                                     'file is in no split list'))
  return candidates, skipped


def to_pcollection(pipeline: beam.Pipeline,
                  listed: Tuple[List[items.Candidate], List[items.Skipped]]):
  """A file source's `read`: the listed candidates as a PCollection, reshuffled so that a
  distributed runner spreads their decoding over its workers, and the listing's skips."""
  candidates, skipped = listed
  return (pipeline | 'ListedItems' >> beam.Create(candidates)
          | 'Spread' >> beam.Reshuffle()), skipped


def read_bytes(path: str) -> bytes:
  with fileio.open(path, 'rb') as f:
    return f.read()
