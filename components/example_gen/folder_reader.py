"""Reader for paired image/mask folders, matched by file stem.

Two layouts:
  CamVid "dataset1" (SegNet's preparation): images_prepped_{train,val,test}/ beside
    annotations_prepped_{train,val,test}/; without a val folder, eval is carved from train.
  Generic: images/ beside masks/; eval and test are carved from the pool by name hash.
"""
import posixpath
from typing import Any, List, Mapping, Tuple

from tfx.dsl.io import fileio

from petseg.components.example_gen import items
from petseg.components.example_gen import listing
from petseg.core import config as config_lib
from petseg.core import errors
from petseg.core import labels as labels_lib

CAMVID_LAYOUT = 'camvid'
IMAGES_MASKS_LAYOUT = 'images_masks'
_CAMVID_FOLDERS = (('train', 'images_prepped_train', 'annotations_prepped_train'),
                   ('eval', 'images_prepped_val', 'annotations_prepped_val'),
                   ('test', 'images_prepped_test', 'annotations_prepped_test'))


def detect_layout(data_dir: str) -> str:
  """CamVid's when any of its image folders is there (a new test set may hold only
  images_prepped_test/); otherwise images/ beside masks/."""
  if any(fileio.isdir(posixpath.join(data_dir, images)) for _, images, _ in _CAMVID_FOLDERS):
    return CAMVID_LAYOUT
  if fileio.isdir(posixpath.join(data_dir, 'images')):
    return IMAGES_MASKS_LAYOUT
  raise errors.DataError(
      f'{data_dir}: not a known image/mask folder layout; expected images/ beside masks/, '
      'or CamVid\'s images_prepped_{train,val,test}/ beside annotations_prepped_*/')


def default_labels(data_dir: str, settings: Mapping[str, Any]) -> labels_lib.LabelSpec:
  """CamVid's layout implies CamVid's classes; any other folder must say what its mask
  values mean."""
  del settings
  if detect_layout(data_dir) == CAMVID_LAYOUT:
    return labels_lib.camvid_labels()
  raise errors.ConfigError(
      f'the folder dataset in {data_dir} needs its classes: pass --config FILE with '
      '{"class_names": [...], "ignore_values": [...]} for class-id masks or '
      '{"palette": "voc" | [{"name": ..., "colour": [r, g, b]}, ...]} for colour masks')


def fingerprint_patterns(config: config_lib.DatasetConfig) -> dict:
  del config  # Both layouts keep every file one folder down.
  return listing.fingerprint_patterns(('*/*',))


def list_candidates(data_dir: str, config: config_lib.DatasetConfig
                    ) -> Tuple[List[items.Candidate], List[items.Skipped]]:
  if detect_layout(data_dir) == IMAGES_MASKS_LAYOUT:
    folders = [(None, 'images', 'masks')]
  else:
    folders = [f for f in _CAMVID_FOLDERS if fileio.isdir(posixpath.join(data_dir, f[1]))]
  has_eval_folder = any(split == 'eval' for split, _, _ in folders)

  def split_of(split, name):
    if split is None:  # One pool: carve all three splits.
      return listing.carve(name, config.eval_fraction, config.test_fraction)
    if split == 'train' and not has_eval_folder:
      return listing.carve(name, config.eval_fraction)
    return split

  outside = listing.outside_data_dir(data_dir, config.follow_symlinks)
  candidates, skipped = [], []
  for split, image_folder, mask_folder in folders:
    found, missed = listing.pair(
        posixpath.join(data_dir, image_folder), posixpath.join(data_dir, mask_folder),
        lambda stems, split=split: [(split_of(split, s), s, ()) for s in sorted(stems)],
        outside)
    candidates += found
    skipped += missed
  return candidates, skipped


def read(pipeline, data_dir: str, config: config_lib.DatasetConfig):
  """The source's reader (components.sources.Reader): the listed items, decoded by Beam."""
  return listing.to_pcollection(pipeline, list_candidates(data_dir, config))
