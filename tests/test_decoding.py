"""Each kind of image and mask the decoder meets: kept, converted safely, or rejected."""
import io

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from petseg.components.example_gen import decoding
from petseg.components.example_gen import items
from petseg.core import labels
from tests.helpers import encode, rgb, trimap, write_image

OXFORD = labels.oxford_trimap_labels()


def _decoded(data: bytes) -> np.ndarray:
  """Pixels as TensorFlow will decode them downstream."""
  return tf.io.decode_image(data, channels=3, expand_animations=False).numpy()


def _rejection(fn, *args):
  with pytest.raises(items.Rejected) as e:
    fn(*args)
  return e.value


# Images.

@pytest.mark.parametrize('fmt, mode', [('JPEG', 'RGB'), ('JPEG', 'L'), ('PNG', 'RGB'),
                                       ('PNG', 'L')])
def test_jpeg_and_png_bytes_are_kept_unchanged(fmt, mode):
  data = encode(Image.fromarray(rgb()).convert(mode), fmt)
  encoded, image_format, size, note = decoding.read_image(data, 'x')
  assert encoded == data and image_format == fmt.lower()
  assert size == (16, 12) and note is None


def test_opaque_rgba_png_named_jpg_is_flattened_losslessly():
  pixels = rgb()
  data = encode(np.dstack([pixels, np.full((12, 16), 255, np.uint8)]), 'PNG')
  encoded, image_format, _, note = decoding.read_image(data, 'Abyssinian_5.jpg')
  assert image_format == 'png' and note == 'PNG RGBA re-encoded as 8-bit RGB PNG'
  np.testing.assert_array_equal(_decoded(encoded), pixels)


def test_transparent_rgba_is_rejected_as_unsafe():
  alpha = np.full((12, 16), 255, np.uint8)
  alpha[:3] = 0
  r = _rejection(decoding.read_image, encode(np.dstack([rgb(), alpha]), 'PNG'), 'a.png')
  assert r.reason == items.UNSUPPORTED_MODE and r.file == 'a.png'
  assert 'transparent pixels' in r.detail


def test_gif_is_re_encoded_as_png_with_the_same_pixels():
  palette_img = Image.fromarray(rgb()).quantize(colors=16)
  data = encode(palette_img, 'GIF')
  encoded, image_format, _, note = decoding.read_image(data, 'Abyssinian_34.jpg')
  assert image_format == 'png' and note.startswith('GIF P')
  np.testing.assert_array_equal(_decoded(encoded), np.asarray(palette_img.convert('RGB')))


def test_animated_gif_is_rejected():
  frames = [Image.fromarray(rgb(seed=i)).quantize(colors=8) for i in range(3)]
  out = io.BytesIO()
  frames[0].save(out, format='GIF', save_all=True, append_images=frames[1:])
  r = _rejection(decoding.read_image, out.getvalue(), 'anim.gif')
  assert r.reason == items.UNREADABLE_IMAGE and '3 frames' in r.detail


def test_palette_png_is_converted():
  palette_img = Image.fromarray(rgb()).quantize(colors=32)
  encoded, _, _, note = decoding.read_image(encode(palette_img, 'PNG'), 'p.png')
  assert note == 'PNG P re-encoded as 8-bit RGB PNG'
  np.testing.assert_array_equal(_decoded(encoded), np.asarray(palette_img.convert('RGB')))


def test_cmyk_jpeg_is_converted_to_rgb():
  cmyk = Image.fromarray(rgb()).convert('CMYK')
  encoded, image_format, _, note = decoding.read_image(encode(cmyk, 'JPEG'), 'c.jpg')
  assert image_format == 'png' and note == 'JPEG CMYK re-encoded as 8-bit RGB PNG'
  assert _decoded(encoded).shape == (12, 16, 3)


def test_16_bit_grey_png_is_scaled_to_8_bits():
  values = np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 300
  encoded, _, _, note = decoding.read_image(encode(Image.fromarray(values), 'PNG'), 'g.png')
  assert note == '16-bit PNG I;16 re-encoded as 8-bit RGB PNG'
  np.testing.assert_array_equal(_decoded(encoded)[..., 0], (values >> 8).astype(np.uint8))


def test_float_image_is_rejected():
  img = Image.fromarray(np.zeros((4, 4), np.float32))
  r = _rejection(decoding.read_image, encode(img, 'TIFF'), 'f.tif')
  assert r.reason == items.UNSUPPORTED_MODE and 'mode F' in r.detail


def test_truncated_jpeg_is_rejected():
  data = encode(rgb(64, 64), 'JPEG')
  r = _rejection(decoding.read_image, data[:len(data) // 2], 'cut.jpg')
  assert r.reason == items.UNREADABLE_IMAGE and r.file == 'cut.jpg'
  assert 'cannot be decoded' in r.detail and 'truncated' in r.detail


def test_garbage_is_rejected():
  r = _rejection(decoding.read_image, b'not an image at all', 'junk.jpg')
  assert r.reason == items.UNREADABLE_IMAGE and 'cannot be decoded' in r.detail


# Masks.

def _mask_ids(png: bytes) -> np.ndarray:
  return np.asarray(Image.open(io.BytesIO(png)))


def test_trimap_values_become_class_ids():
  ids = _mask_ids(decoding.read_mask(encode(trimap(), 'PNG'), 't.png', OXFORD, (16, 12)))
  np.testing.assert_array_equal(ids, trimap() - 1)


def test_border_as_ignore_maps_to_255():
  spec = labels.oxford_trimap_labels(border_as_ignore=True)
  ids = _mask_ids(decoding.read_mask(encode(trimap(), 'PNG'), 't.png', spec, (16, 12)))
  assert set(np.unique(ids)) == {0, 1, 255}


def test_mask_values_outside_the_label_set_are_named():
  bad = trimap()
  bad[0, 0], bad[0, 1] = 0, 7
  r = _rejection(decoding.read_mask, encode(bad, 'PNG'), 'bad.png', OXFORD, (16, 12))
  assert r.reason == items.UNKNOWN_MASK_VALUES and r.file == 'bad.png'
  assert 'outside the label set: 0, 7' in r.detail


def test_size_mismatch_names_both_sizes():
  r = _rejection(decoding.read_mask, encode(trimap(), 'PNG'), 'm.png', OXFORD, (20, 12))
  assert r.reason == items.SIZE_MISMATCH and 'mask is 16x12 but its image is 20x12' in r.detail


def test_camvid_void_becomes_ignore():
  values = np.array([[0, 10, 11]], np.uint8)
  ids = _mask_ids(decoding.read_mask(encode(values, 'PNG'), 'c.png', labels.camvid_labels(),
                                     (3, 1)))
  np.testing.assert_array_equal(ids, [[0, 10, 255]])


def test_16_bit_class_id_mask():
  values = np.array([[1, 2, 3]], np.uint16)
  ids = _mask_ids(decoding.read_mask(encode(Image.fromarray(values), 'PNG'), 'm.png', OXFORD,
                                     (3, 1)))
  np.testing.assert_array_equal(ids, [[0, 1, 2]])


def test_palette_indexed_mask_uses_indices_as_ids():
  """Pascal VOC's SegmentationClass PNGs: palette indices are the class ids."""
  indices = np.array([[0, 15, 255]], np.uint8)
  img = Image.fromarray(indices, mode='P')
  img.putpalette([c for i in range(256) for c in labels.voc_colour(i)])
  spec = labels.class_id_labels(labels.VOC_CLASSES)
  np.testing.assert_array_equal(
      _mask_ids(decoding.read_mask(encode(img, 'PNG'), 'v.png', spec, (3, 1))), [[0, 15, 255]])


def test_rgb_mask_through_the_voc_palette():
  colours = np.array([[labels.voc_colour(0), labels.voc_colour(12), (224, 224, 192)]],
                     np.uint8)
  ids = _mask_ids(decoding.read_mask(encode(colours, 'PNG'), 'v.png', labels.voc_labels(),
                                     (3, 1)))
  np.testing.assert_array_equal(ids, [[0, 12, 255]])


def test_unknown_colour_is_named_with_the_file():
  colours = np.array([[labels.voc_colour(1), (1, 2, 3)]], np.uint8)
  r = _rejection(decoding.read_mask, encode(colours, 'PNG'), 'masks/x.png',
                 labels.voc_labels(), (2, 1))
  assert r.reason == items.UNKNOWN_MASK_VALUES and r.file == 'masks/x.png'
  assert 'mask colours outside the label set: (1, 2, 3)' in r.detail


def test_colour_mask_for_a_class_id_dataset_is_rejected():
  colours = np.array([[(1, 2, 3)]], np.uint8)
  r = _rejection(decoding.read_mask, encode(colours, 'PNG'), 'm.png', OXFORD, (1, 1))
  assert r.reason == items.UNSUPPORTED_MODE and 'give the dataset a palette' in r.detail


def test_grey_stored_as_rgb_mask_is_read_as_class_ids():
  grey = np.repeat(np.array([[1, 2, 3]], np.uint8)[..., None], 3, axis=2)
  ids = _mask_ids(decoding.read_mask(encode(grey, 'PNG'), 'm.png', OXFORD, (3, 1)))
  np.testing.assert_array_equal(ids, [[0, 1, 2]])


# Whole examples.

def test_example_holds_the_contract(tmp_path):
  image_path = write_image(tmp_path / 'images' / 'pug_1.jpg', rgb(), 'JPEG')
  mask_path = write_image(tmp_path / 'trimaps' / 'pug_1.png', trimap(), 'PNG')
  candidate = items.Candidate('train', 'pug_1', image_path, mask_path,
                              (('species', 'dog'), ('breed', 'pug')))
  serialized, note = decoding.to_example(candidate, OXFORD)
  features = tf.train.Example.FromString(serialized).features.feature
  assert note is None
  assert features['image'].bytes_list.value[0] == open(image_path, 'rb').read()
  assert features['image_format'].bytes_list.value[0] == b'jpeg'
  assert (features['height'].int64_list.value[0], features['width'].int64_list.value[0]) == (
      12, 16)
  assert features['file_name'].bytes_list.value[0] == b'pug_1.jpg'
  assert features['species'].bytes_list.value[0] == b'dog'
  assert features['breed'].bytes_list.value[0] == b'pug'
  np.testing.assert_array_equal(_mask_ids(features['mask'].bytes_list.value[0]), trimap() - 1)


def test_unreadable_file_is_rejected_with_its_path(tmp_path):
  candidate = items.Candidate('train', 'gone', str(tmp_path / 'gone.jpg'),
                              str(tmp_path / 'gone.png'))
  r = _rejection(decoding.to_example, candidate, OXFORD)
  assert r.reason == items.UNREADABLE_IMAGE and r.file.endswith('gone.jpg')
