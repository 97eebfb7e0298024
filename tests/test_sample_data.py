"""`petseg make-sample-data`: the Oxford layout, valid trimaps, varied pets, reproducible."""
import numpy as np
from PIL import Image

from petseg import cli
from petseg.components.example_gen import oxford_lists


def test_make_sample_data_writes_the_oxford_layout(tmp_path, capsys):
  assert cli.main(['make-sample-data', str(tmp_path), '--num-images', '40']) == 0
  assert 'Wrote 40 images' in capsys.readouterr().out
  annotations = tmp_path / 'annotations'
  trainval = (annotations / 'trainval.txt').read_text().splitlines()
  test = (annotations / 'test.txt').read_text().splitlines()
  assert len(trainval) + len(test) == 40 and len(test) == 10
  listed = (annotations / 'list.txt').read_text().splitlines()
  assert sum(line.startswith('#') for line in listed) == 6
  names = [line.split()[0] for line in trainval + test]
  assert all(oxford_lists.list_line(n) == line for n, line in zip(names, trainval + test))
  assert {oxford_lists.species_id(oxford_lists.breed_of(n)) for n in names} == {1, 2}

  sizes = set()
  for name in names:
    image = Image.open(tmp_path / 'images' / f'{name}.jpg')
    trimap = np.asarray(Image.open(annotations / 'trimaps' / f'{name}.png'))
    assert image.format == 'JPEG' and image.size == trimap.shape[::-1]
    assert set(np.unique(trimap)) == {1, 2, 3}
    sizes.add(image.size)
  assert len(sizes) > 20


def test_same_seed_same_data(tmp_path):
  for run in ('a', 'b'):
    cli.main(['make-sample-data', str(tmp_path / run), '--num-images', '4', '--seed', '3'])
  for rel in ('images/Abyssinian_1.jpg', 'annotations/trimaps/basset_hound_1.png',
              'annotations/test.txt'):
    assert (tmp_path / 'a' / rel).read_bytes() == (tmp_path / 'b' / rel).read_bytes()
