"""Listing datasets: every listed name becomes a candidate or is reported, with its reason."""
import shutil

import pytest

from petseg.components.example_gen import folder_reader
from petseg.components.example_gen import items
from petseg.components.example_gen import listing
from petseg.components.example_gen import oxford_reader
from petseg.components.example_gen import sources
from petseg.core import errors
from tests.helpers import rgb, trimap, write_image


def _oxford(tmp_path, sample_dir):
  data = tmp_path / 'oxford'
  shutil.copytree(sample_dir, data)
  return data


def _reasons(skipped):
  return sorted((s.reason, s.name) for s in skipped)


def test_carving_is_stable_and_close_to_the_fraction():
  names = [f'n{i}' for i in range(4000)]
  splits = [listing.carve(n, 0.2, 0.1) for n in names]
  assert splits == [listing.carve(n, 0.2, 0.1) for n in names]
  assert abs(splits.count('eval') / 4000 - 0.2) < 0.03
  assert abs(splits.count('test') / 4000 - 0.1) < 0.03


def test_oxford_sample_lists_every_name(sample_dir):
  config = sources.dataset_config('oxford_pets', str(sample_dir))
  candidates, skipped = oxford_reader.list_candidates(str(sample_dir), config)
  assert skipped == []
  trainval = (sample_dir / 'annotations' / 'trainval.txt').read_text().split('\n')
  assert len(candidates) == 36
  assert sum(c.split == 'test' for c in candidates) == 9
  assert {c.split for c in candidates} == {'train', 'eval', 'test'}
  first = next(c for c in candidates if c.name == trainval[0].split()[0])
  assert dict(first.metadata)['breed'] == first.name.rsplit('_', 1)[0]


def test_oxford_problems_are_each_reported(tmp_path, sample_dir):
  data = _oxford(tmp_path, sample_dir)
  names = [line.split()[0] for line in
           (data / 'annotations' / 'trainval.txt').read_text().splitlines()]
  (data / 'images' / f'{names[0]}.jpg').unlink()  # missing image
  (data / 'annotations' / 'trimaps' / f'{names[1]}.png').unlink()  # missing mask
  write_image(data / 'images' / f'{names[2]}.png', rgb(), 'PNG')  # two images, one name
  write_image(data / 'images' / 'Bengal_999.jpg', rgb(), 'JPEG')  # in no list
  (data / 'images' / f'._{names[3]}.jpg').write_bytes(b'\0\5\26\7')  # macOS metadata
  (data / 'annotations' / 'trimaps' / '.DS_Store').write_bytes(b'\0')
  with open(data / 'annotations' / 'test.txt', 'a') as f:
    f.write(f'{names[4]} 1 1 1\n')  # listed twice
    f.write('Persian_3 24 1\n')  # bad line
  config = sources.dataset_config('oxford_pets', str(data))
  candidates, skipped = oxford_reader.list_candidates(str(data), config)
  assert _reasons(skipped) == sorted([
      (items.MISSING_IMAGE, names[0]), (items.MISSING_MASK, names[1]),
      (items.DUPLICATE_NAME, names[2]), (items.NOT_IN_ANY_LIST, 'Bengal_999'),
      (items.MACOS_METADATA, f'._{names[3]}.jpg'), (items.MACOS_METADATA, '.DS_Store'),
      (items.DUPLICATE_NAME, names[4]), (items.BAD_LIST_LINE, 'Persian_3')])
  assert len(candidates) == 36 - 3
  missing = next(s for s in skipped if s.reason == items.MISSING_IMAGE)
  assert missing.file.endswith(f'images/{names[0]}.*') and missing.split in ('train', 'eval')
  assert 'annotations/trainval.txt' in next(
      s.detail for s in skipped if s.reason == items.DUPLICATE_NAME and s.name == names[4])


def test_oxford_layout_errors_name_the_missing_path(tmp_path, sample_dir):
  data = _oxford(tmp_path, sample_dir)
  (data / 'annotations' / 'test.txt').unlink()
  config = sources.dataset_config('oxford_pets', str(data))
  # One list is a dataset (a new test set holds test.txt alone); no list is an error.
  candidates, _ = oxford_reader.list_candidates(str(data), config)
  assert candidates and {c.split for c in candidates} == {'train', 'eval'}
  (data / 'annotations' / 'trainval.txt').unlink()
  with pytest.raises(errors.DataError, match=r'annotations/trainval.txt, .*'
                     r'annotations/test.txt: no split list found'):
    oxford_reader.list_candidates(str(data), config)


def _pair(root, image_dir, mask_dir, name, mask=None):
  write_image(root / image_dir / f'{name}.png', rgb(), 'PNG')
  write_image(root / mask_dir / f'{name}.png', trimap() if mask is None else mask, 'PNG')


def test_camvid_layout(tmp_path):
  for i in range(20):
    _pair(tmp_path, 'images_prepped_train', 'annotations_prepped_train', f'tr{i}')
  for i in range(4):
    _pair(tmp_path, 'images_prepped_test', 'annotations_prepped_test', f'te{i}')
  write_image(tmp_path / 'annotations_prepped_test' / 'orphan.png', trimap(), 'PNG')
  config = sources.dataset_config('folder', str(tmp_path))
  assert folder_reader.detect_layout(str(tmp_path)) == folder_reader.CAMVID_LAYOUT
  candidates, skipped = folder_reader.list_candidates(str(tmp_path), config)
  splits = [c.split for c in candidates]
  assert splits.count('test') == 4 and splits.count('train') + splits.count('eval') == 20
  assert splits.count('eval') == sum(listing.carve(f'tr{i}', 0.2) == 'eval' for i in range(20))
  assert _reasons(skipped) == [(items.MISSING_IMAGE, 'orphan')]


def test_camvid_val_folder_is_the_eval_split(tmp_path):
  for split in ('train', 'val', 'test'):
    _pair(tmp_path, f'images_prepped_{split}', f'annotations_prepped_{split}', split)
  config = sources.dataset_config('camvid', str(tmp_path))
  candidates, _ = folder_reader.list_candidates(str(tmp_path), config)
  assert {c.name: c.split for c in candidates} == {'train': 'train', 'val': 'eval',
                                                   'test': 'test'}


def test_generic_images_and_masks_carve_three_splits(tmp_path):
  for i in range(30):
    _pair(tmp_path, 'images', 'masks', f'img{i:02d}')
  config = sources.dataset_config('folder', str(tmp_path), {'class_names': ['a', 'b', 'c', 'd']})
  candidates, skipped = folder_reader.list_candidates(str(tmp_path), config)
  assert skipped == [] and len(candidates) == 30
  assert {c.split for c in candidates} == {'train', 'eval', 'test'}
  assert candidates[0].image_path.endswith('images/img00.png')
  assert candidates[0].mask_path.endswith('masks/img00.png')


def test_unknown_folder_layout_is_explained(tmp_path):
  with pytest.raises(errors.DataError, match='expected images/ beside masks/'):
    folder_reader.detect_layout(str(tmp_path))


def test_fingerprint_patterns_cover_images_masks_and_lists():
  oxford = oxford_reader.fingerprint_patterns(None)
  assert sorted(oxford.values()) == ['annotations/*.txt', 'annotations/trimaps/*', 'images/*']
  assert set(folder_reader.fingerprint_patterns(None)) == set(listing.SPLITS)
