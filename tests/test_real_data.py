"""The readers on the real data in ../shared/data (skipped where that folder is absent)."""
import json
import os

import pytest

from petseg.components.example_gen import component as example_gen
from petseg.components.example_gen import decoding
from petseg.components.example_gen import folder_reader
from petseg.components.example_gen import items
from petseg.components.example_gen import oxford_reader
from petseg.components.example_gen import sources
from petseg.records import ingest_report
from tests.helpers import count_records
from tests.helpers import shared_data

UNLISTED = {'Abyssinian_34', 'Abyssinian_82'}


def _list_oxford(data_dir, **settings):
  config = sources.dataset_config('oxford_pets', str(data_dir), settings)
  return oxford_reader.list_candidates(str(data_dir), config)


def test_oxford_sample_listing_matches_the_lists():
  candidates, skipped = _list_oxford(shared_data('oxford-pets-sample'))
  splits = [c.split for c in candidates]
  assert splits.count('test') == 298
  assert splits.count('train') + splits.count('eval') == 300
  assert {(s.reason, s.name) for s in skipped} == {
      (items.NOT_IN_ANY_LIST, name) for name in UNLISTED}
  assert len(skipped) == 4  # the image and the trimap of each


def test_oxford_quirks_decode_as_documented():
  data = shared_data('oxford-pets-sample')
  labels = sources.dataset_config('oxford_pets', str(data)).labels
  rgba = items.Candidate('test', 'Abyssinian_5', str(data / 'images' / 'Abyssinian_5.jpg'),
                         str(data / 'annotations' / 'trimaps' / 'Abyssinian_5.png'))
  _, note = decoding.to_example(rgba, labels)
  assert note == 'PNG RGBA re-encoded as 8-bit RGB PNG'
  gif = (data / 'images' / 'Abyssinian_34.jpg').read_bytes()
  _, image_format, _, note = decoding.read_image(gif, 'Abyssinian_34.jpg')
  assert image_format == 'png' and note.startswith('GIF')


def test_full_split_lists_report_names_without_files(tmp_path):
  """The full dataset's lists against 3 breeds' files: reported, not a crash. The files
  are the sample's, through symlinks."""
  sample, lists = shared_data('oxford-pets-sample'), shared_data('oxford-pets-split-lists')
  data = tmp_path / 'oxford'
  (data / 'annotations').mkdir(parents=True)
  os.symlink(sample / 'images', data / 'images')
  os.symlink(sample / 'annotations' / 'trimaps', data / 'annotations' / 'trimaps')
  for name in ('trainval.txt', 'test.txt'):
    (data / 'annotations' / name).write_bytes((lists / name).read_bytes())
  candidates, skipped = _list_oxford(data, follow_symlinks=True)
  listed = sum(1 for name in ('trainval.txt', 'test.txt')
               for line in (lists / name).read_text().splitlines() if line.strip())
  missing = [s for s in skipped if s.reason == items.MISSING_IMAGE]
  assert len(candidates) + len(missing) == listed
  assert len(candidates) > 500 and len(missing) > 6000
  assert all(s.file.endswith('.*') for s in missing)


def test_camvid_listing_matches_its_folders():
  data = shared_data('camvid')
  config = sources.dataset_config('folder', str(data))
  assert config.labels.num_classes == 11
  candidates, skipped = folder_reader.list_candidates(str(data), config)
  splits = [c.split for c in candidates]
  assert skipped == []
  assert splits.count('test') == 101 and splits.count('train') + splits.count('eval') == 367


@pytest.mark.slow
@pytest.mark.parametrize('dataset, folder, expected', [
    ('oxford_pets', 'oxford-pets-sample', {'trainval': 300, 'test': 298}),
    ('folder', 'camvid', {'trainval': 367, 'test': 101}),
])
def test_ingest_real_data(tmp_path, dataset, folder, expected):
  data = shared_data(folder)
  config = sources.dataset_config(dataset, str(data))
  examples = example_gen.ingest(str(data), config, str(tmp_path / 'examples'))
  report = json.loads((tmp_path / 'examples' / ingest_report.FILE_NAME).read_text())
  counts = {split: count_records(examples.uri, split) for split in ('train', 'eval', 'test')}
  assert counts['train'] + counts['eval'] == expected['trainval']
  assert counts['test'] == expected['test']
  assert report['rejected'] == []
  assert {i['name'] for i in report['ignored_files']} == (UNLISTED if dataset == 'oxford_pets'
                                                          else set())
