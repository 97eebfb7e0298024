"""Finding a released model, and drawing its predictions."""
import os

import numpy as np
from PIL import Image
import pytest
from tensorflow.core.protobuf import saved_model_pb2

from petseg import cli
from petseg import released_model
from petseg.core import errors
from petseg.core import labels as labels_lib
from petseg.core import overlay
from petseg.core.labels import IGNORE_ID


def test_a_serving_directory_resolves_to_its_highest_version(tmp_path):
  graph = saved_model_pb2.SavedModel(meta_graphs=[{}]).SerializeToString()
  for version in ('2', '10', '.staging-x'):
    (tmp_path / version).mkdir()
    (tmp_path / version / 'saved_model.pb').write_bytes(graph)
  assert released_model.resolve(str(tmp_path)) == str(tmp_path / '10')
  assert released_model.resolve(str(tmp_path / '2')) == str(tmp_path / '2')
  (tmp_path / '10' / 'saved_model.pb').write_bytes(b'')  # damaged: no graph
  with pytest.raises(errors.DataError, match=f'^{tmp_path / "10"}: saved_model.pb is damaged'):
    released_model.resolve(str(tmp_path))


def test_a_directory_without_a_model_is_a_clear_error(tmp_path):
  with pytest.raises(errors.ConfigError, match='neither a SavedModel'):
    released_model.resolve(str(tmp_path))
  with pytest.raises(errors.ConfigError, match='no such model directory'):
    released_model.resolve(str(tmp_path / 'absent'))


def test_images_with_the_same_name_are_refused_before_anything_is_written(tmp_path):
  with pytest.raises(errors.ConfigError, match='same name.*a/x.jpg.*b/x.png'):
    released_model.predict(str(tmp_path), ['a/x.jpg', 'b/x.png'], str(tmp_path / 'out'))
  assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('link', [os.link, os.symlink])
def test_an_output_that_is_an_input_under_another_name_is_refused(tmp_path, link):
  """A link in --output-dir to an input is the input (device and inode), with or without
  --overwrite; nothing is written."""
  inputs, out = tmp_path / 'in', tmp_path / 'out'
  inputs.mkdir()
  out.mkdir()
  for name in ('a.jpg', 'b.jpg'):
    (inputs / name).write_bytes(name.encode())
  link(inputs / 'b.jpg', out / 'a_mask.png')
  for overwrite in (False, True):
    with pytest.raises(errors.ConfigError) as e:
      released_model.predict(str(tmp_path / 'model'), [str(inputs / 'a.jpg'),
                                                       str(inputs / 'b.jpg')],
                             str(out), overwrite=overwrite)
    assert str(e.value) == (
        f'{inputs / "b.jpg"}: is an input and would be overwritten by the output for '
        f'{inputs / "a.jpg"} (it is the same file as {out / "a_mask.png"}); give another '
        '--output-dir')
  assert (inputs / 'b.jpg').read_bytes() == b'b.jpg'
  assert sorted(p.name for p in out.iterdir()) == ['a_mask.png']


def test_a_refused_predict_leaves_its_output_directory_as_it_was(tmp_path, capsys):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'petseg.log').write_text('the last run\'s log')
  assert cli.main(['predict', '--model-dir', str(tmp_path), 'a/x.jpg', 'b/x.png',
                   '--output-dir', str(out)]) == 1
  assert 'same name' in capsys.readouterr().err
  assert [p.name for p in out.iterdir()] == ['petseg.log']
  assert (out / 'petseg.log').read_text() == 'the last run\'s log'


def test_a_link_where_a_mask_goes_is_replaced_not_written_through(tmp_path):
  (tmp_path / 'other.png').write_bytes(b'someone else\'s file')
  os.link(tmp_path / 'other.png', tmp_path / 'mask.png')
  overlay.save_mask_and_overlay(str(tmp_path / 'mask.png'), str(tmp_path / 'overlay.png'),
                                np.zeros((2, 2, 3), np.uint8), [np.zeros((2, 2), np.uint8)],
                                [(200, 0, 0)], ['a'])
  assert (tmp_path / 'other.png').read_bytes() == b'someone else\'s file'
  assert np.asarray(Image.open(tmp_path / 'mask.png')).tolist() == [[0, 0], [0, 0]]
  assert sorted(p.name for p in tmp_path.iterdir()) == ['mask.png', 'other.png', 'overlay.png']


def test_colours_come_from_a_colour_coded_dataset_or_a_palette():
  assert overlay.class_colours(labels_lib.voc_labels())[:2] == [(0, 0, 0), (128, 0, 0)]
  colours = overlay.class_colours(labels_lib.oxford_trimap_labels())
  assert len(set(colours)) == 3 and (0, 0, 0) not in colours


def test_overlay_tints_classes_and_leaves_ignored_pixels_alone():
  image = Image.new('RGB', (3, 1), (100, 100, 100))
  class_ids = np.array([[0, 1, IGNORE_ID]], np.uint8)
  tinted = np.asarray(overlay.overlay(image, class_ids, [(200, 0, 0), (0, 200, 0)]))
  assert tinted[0, 0].tolist() == [150, 50, 50]
  assert tinted[0, 1].tolist() == [50, 150, 50]
  assert tinted[0, 2].tolist() == [100, 100, 100]


def test_mask_and_overlay_written_in_bands_are_those_of_the_whole_image(tmp_path):
  """Any band height, any width (narrower than a legend entry too): the mask PNG holds the
  class ids, the overlay PNG overlay() of the whole image with legend() below, exactly."""
  rng = np.random.default_rng(0)
  colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200)]
  for height, width, band_rows in ((10, 7, 1), (10, 7, 3), (9, 130, 9), (40, 300, 16)):
    pixels = rng.integers(0, 256, (height, width, 3), np.uint8)
    class_ids = rng.choice(np.array([0, 1, 2, IGNORE_ID], np.uint8), (height, width))
    mask_path, overlay_path = tmp_path / 'mask.png', tmp_path / 'overlay.png'
    overlay.save_mask_and_overlay(
        str(mask_path), str(overlay_path), pixels,
        (class_ids[top:top + band_rows] for top in range(0, height, band_rows)),
        colours, ['a', 'b', 'c'])
    assert np.array_equal(np.asarray(Image.open(mask_path)), class_ids)
    expected = Image.new('RGB', (max(width, 120), height), 'white')
    expected.paste(overlay.overlay(Image.fromarray(pixels), class_ids, colours))
    below = overlay.legend(expected.width, ['a', 'b', 'c'], colours)
    written = np.asarray(Image.open(overlay_path))
    assert written.shape == (height + below.height, expected.width, 3)
    assert np.array_equal(written[:height], np.asarray(expected))
    assert np.array_equal(written[height:], np.asarray(below))


@pytest.mark.parametrize('content, why', [
    (b'', 'the file is empty'),
    (b'just some text\n', 'not an image in a format Pillow knows')])
def test_a_file_that_is_not_an_image_is_named_with_the_reason(tmp_path, content, why):
  path = tmp_path / 'photo.jpg'
  path.write_bytes(content)
  with pytest.raises(errors.DataError) as e:
    released_model._read_image(str(path), 10**6)  # pylint: disable=protected-access
  assert str(e.value) == f'{path}: cannot be read as an image ({why})'
