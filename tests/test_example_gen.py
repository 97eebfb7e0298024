"""The ExampleGen executor on Beam: records per split, the ingest report, the reject limit."""
import io
import json
import shutil
import threading
from unittest import mock

import apache_beam as beam
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from petseg.components.example_gen import component as example_gen
from petseg.components.example_gen import items
from petseg.components.example_gen import sources
from petseg.components.example_gen import tfrecord_sink
from petseg.records import ingest_report
from tests.helpers import count_records, read_records, rgb, trimap, write_image


@pytest.fixture
def flawed_oxford(tmp_path, sample_dir):
  """The generated sample with one flaw of each kind that decoding finds."""
  data = tmp_path / 'data'
  shutil.copytree(sample_dir, data)
  names = [line.split()[0] for line in
           (data / 'annotations' / 'trainval.txt').read_text().splitlines()]
  images, trimaps = data / 'images', data / 'annotations' / 'trimaps'
  jpeg = (images / f'{names[0]}.jpg').read_bytes()
  (images / f'{names[0]}.jpg').write_bytes(jpeg[:len(jpeg) // 3])  # truncated
  write_image(trimaps / f'{names[1]}.png', np.zeros((5, 5), np.uint8), 'PNG')  # wrong size
  size = Image.open(images / f'{names[2]}.jpg').size
  write_image(images / f'{names[2]}.jpg',  # an opaque RGBA PNG named .jpg, as in the real data
              np.dstack([rgb(size[1], size[0]), np.full(size[::-1], 255, np.uint8)]), 'PNG')
  (images / f'._{names[3]}.jpg').write_bytes(b'\0\5\26\7')
  return data, names


def test_ingest_writes_splits_and_reports_every_skip(tmp_path, flawed_oxford):
  data, names = flawed_oxford
  config = sources.dataset_config('oxford_pets', str(data), {'max_reject_fraction': 0.5})
  examples = example_gen.ingest(str(data), config, str(tmp_path / 'examples'))

  report = json.loads((tmp_path / 'examples' / ingest_report.FILE_NAME).read_text())
  assert sorted((r['reason'], r['name']) for r in report['rejected']) == sorted([
      (items.UNREADABLE_IMAGE, names[0]), (items.SIZE_MISMATCH, names[1])])
  assert [(i['reason'], i['name']) for i in report['ignored_files']] == [
      (items.MACOS_METADATA, f'._{names[3]}.jpg')]
  assert [c['name'] for c in report['converted']] == [names[2]]
  for split in ('train', 'eval', 'test'):
    stats = report['splits'][split]
    assert count_records(examples.uri, split) == stats['ingested']
    assert examples.get_int_custom_property(f'{split}_examples') == stats['ingested']
  assert sum(s['ingested'] for s in report['splits'].values()) == 36 - 2
  assert report['splits']['test']['ingested'] == 9
  assert json.loads(examples.get_string_custom_property('labels'))['class_names'] == [
      'pet', 'background', 'border']

  records = read_records(examples.uri, 'train') + read_records(examples.uri, 'eval')
  converted = next(r for r in records
                   if r.features.feature['file_name'].bytes_list.value[0] == f'{names[2]}.jpg'.encode())
  assert converted.features.feature['image_format'].bytes_list.value[0] == b'png'


def test_too_many_rejects_fail_with_what_to_fix(tmp_path, flawed_oxford):
  data, names = flawed_oxford
  config = sources.dataset_config('oxford_pets', str(data), {'max_reject_fraction': 0.01})
  with pytest.raises(ingest_report.IngestError) as e:
    example_gen.ingest(str(data), config, str(tmp_path / 'examples'))
  message = str(e.value)
  assert 'were rejected' in message and 'more than the allowed 1.0%' in message
  assert f'{names[0]}.jpg: cannot be decoded' in message or f'{names[1]}.png' in message
  assert ingest_report.FILE_NAME in message and '--max-reject-fraction' in message


def test_an_empty_split_fails_clearly(tmp_path, sample_dir):
  config = sources.dataset_config('oxford_pets', str(sample_dir), {'eval_fraction': 0.0})
  with pytest.raises(ingest_report.IngestError, match="split 'eval' has no examples"):
    example_gen.ingest(str(sample_dir), config, str(tmp_path / 'examples'))


def _encoded(array, fmt) -> bytes:
  out = io.BytesIO()
  Image.fromarray(array).save(out, format=fmt)
  return out.getvalue()


def _mock_oxford_iiit_pet(self, split, decoders=None, read_config=None, bad_test=True,
                          **kwargs):
  """What TFDS's oxford_iiit_pet yields with SkipDecoding: still-encoded images and masks;
  with `bad_test`, every test mask has a value out of the set."""
  del self, decoders, read_config, kwargs
  names = [f'Abyssinian_{i}' if i % 2 else f'beagle_{i}' for i in range(1, 13)]
  if split == 'test':
    names = names[:4]
  mask = trimap()
  mask[0, 0] = 9 if split == 'test' and bad_test else 2
  return tf.data.Dataset.from_tensor_slices({
      'file_name': [f'{n}.jpg' for n in names],
      'image': [_encoded(rgb(seed=i), 'JPEG') for i in range(len(names))],
      'segmentation_mask': [_encoded(mask, 'PNG')] * len(names),
      'species': [0 if n[0].isupper() else 1 for n in names],
      'label': [0] * len(names),
  })


def test_tfds_source_reads_encoded_examples(tmp_path):
  config = sources.dataset_config('tfds', str(tmp_path / 'tfds'),
                                  {'max_reject_fraction': 1.0, 'eval_fraction': 0.3})
  with tfds.testing.mock_data(as_dataset_fn=_mock_oxford_iiit_pet):
    with pytest.raises(ingest_report.IngestError, match="split 'test' has no examples"):
      example_gen.ingest(str(tmp_path / 'tfds'), config, str(tmp_path / 'examples'))
  report = json.loads((tmp_path / 'examples' / ingest_report.FILE_NAME).read_text())
  assert report['splits']['train']['ingested'] + report['splits']['eval']['ingested'] == 12
  assert report['splits']['eval']['ingested'] > 0
  assert {r['reason'] for r in report['rejected']} == {items.UNKNOWN_MASK_VALUES}
  assert report['rejected'][0]['file'].startswith('tfds:oxford_iiit_pet/test/')
  record = read_records(str(tmp_path / 'examples'), 'train')[0].features.feature
  name = record['file_name'].bytes_list.value[0].decode()
  assert record['species'].bytes_list.value[0] == (b'cat' if name[0].isupper() else b'dog')
  assert record['breed'].bytes_list.value[0].decode() == name.rsplit('_', 1)[0]


def _one_at_a_time(build):
  """TFDS's mock swaps the process's file system while it builds a dataset, which two
  threads building at once leave swapped: builds wait for each other here (reading and
  decoding stay parallel)."""
  lock = threading.Lock()

  def locked(self, *args, **kwargs):
    with lock:
      return build(self, *args, **kwargs)
  return locked


def test_tfds_source_prepares_once_and_reads_the_same_on_several_workers(tmp_path):
  """Beam's multi-threaded runner (two workers, sharing TFDS's mock): the data is prepared
  once, not once per split, and the records are those of one worker."""
  config = sources.dataset_config('tfds', str(tmp_path / 'tfds'), {'eval_fraction': 0.3})
  prepared = []
  records = {}

  def as_dataset(self, split, **kwargs):  # a method of the builder: valid test masks
    return _mock_oxford_iiit_pet(self, split, bad_test=False, **kwargs)

  with tfds.testing.mock_data(as_dataset_fn=as_dataset), \
      mock.patch.object(tfds.core.DatasetBuilder, 'download_and_prepare',
                        lambda builder, *args, **kwargs: prepared.append(builder.name)), \
      mock.patch.object(tfds.core.DatasetBuilder, 'as_dataset',
                        _one_at_a_time(tfds.core.DatasetBuilder.as_dataset)):
    for workers in (1, 2):
      out = tmp_path / f'examples-{workers}'
      example_gen.ingest(str(tmp_path / 'tfds'), config, str(out), beam_pipeline_args=[
          '--direct_running_mode=multi_threading', f'--direct_num_workers={workers}'])
      records[workers] = {
          split: sorted(r.SerializeToString(deterministic=True)
                        for r in read_records(str(out), split))
          for split in ('train', 'eval', 'test')}
  assert prepared == ['oxford_iiit_pet'] * 2  # once for each ingestion
  assert records[1] == records[2]
  assert len(records[2]['test']) == 4 and len(records[2]['train'] + records[2]['eval']) == 12


def _files(folder):
  """File name -> its records in order, for every file Beam left in `folder`."""
  return {path.name: [r.numpy() for r in tf.data.TFRecordDataset(str(path), 'GZIP')]
          for path in sorted(folder.iterdir())}


def test_native_writer_leaves_the_files_and_records_of_beams_writer(tmp_path):
  """The same records (empty, small, a megabyte, incompressible and not), in the same
  order, in the same files (Beam's sink names and finalises both), nothing else left."""
  rng = np.random.default_rng(0)
  records = [b'', b'x', *(rng.bytes(n) for n in (10, 100_000, 1_000_000)), b'a' * 200_000,
             *(rng.bytes(int(n)) for n in rng.integers(1, 20_000, 40))]
  for name, write in (('beam', lambda prefix: beam.io.WriteToTFRecord(prefix,
                                                                       file_name_suffix='.gz')),
                      ('ours', tfrecord_sink.WriteGzippedTFRecords)):
    (tmp_path / name).mkdir()
    with beam.Pipeline() as pipeline:
      _ = (pipeline | beam.Create(records, reshuffle=False)
           | write(str(tmp_path / name / 'data_tfrecord')))
  ours, beams = _files(tmp_path / 'ours'), _files(tmp_path / 'beam')
  assert list(ours) == ['data_tfrecord-00000-of-00001.gz']
  assert ours == beams and ours['data_tfrecord-00000-of-00001.gz'] == records
