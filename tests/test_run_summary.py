"""The run summary: its fingerprint of the data (what the examples are, not how they were
written), and its JSON format, which released versions keep."""
import json
import os
import pathlib

import tensorflow as tf

from petseg.records import summary as run_summary


def _example(name: str, mask: bytes, first: str = 'file_name') -> tf.train.Example:
  features = {'file_name': tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode()])),
              'mask': tf.train.Feature(bytes_list=tf.train.BytesList(value=[mask]))}
  if first != 'file_name':
    features = dict(reversed(list(features.items())))  # another insertion order
  return tf.train.Example(features=tf.train.Features(feature=features))


def _write(uri, split_files):
  """{split: [[examples of file 1], [examples of file 2], ...]} as gzipped TFRecords."""
  for split, files in split_files.items():
    os.makedirs(os.path.join(uri, f'Split-{split}'))
    for i, examples in enumerate(files):
      with tf.io.TFRecordWriter(os.path.join(uri, f'Split-{split}', f'data-{i}.gz'),
                                options='GZIP') as writer:
        for example in examples:
          writer.write(example.SerializeToString())
  return uri


def test_the_data_fingerprint_ignores_order_and_files_but_not_content(tmp_path):
  a, b, c = (_example(n, n.encode() * 3) for n in 'abc')
  first = _write(str(tmp_path / '1'), {'train': [[a, b]], 'test': [[c]]})
  reshuffled = _write(str(tmp_path / '2'), {
      'train': [[_example('b', b'bbb', first='mask')], [a]], 'test': [[c]]})
  changed = _write(str(tmp_path / '3'), {'train': [[a, _example('b', b'bbx')]], 'test': [[c]]})
  moved = _write(str(tmp_path / '4'), {'train': [[a]], 'test': [[b, c]]})
  fingerprints = [run_summary.data_fingerprint(uri, ['train', 'test'])
                  for uri in (first, reshuffled, changed, moved)]
  assert fingerprints[0] == fingerprints[1]
  assert len(set(fingerprints[1:])) == 3


# Version 2's release record from tests/test_release_e2e.py, written by petseg before the
# run summary's parts were typed (paths shortened): compared with version 1, so every
# part is there.
OLD_RECORD = pathlib.Path(__file__).parent / 'data' / 'release_record_before_typed_parts.json'


def test_a_record_written_before_the_typed_parts_reads_and_writes_back_the_same():
  record = json.loads(OLD_RECORD.read_text())
  written = {k: v for k, v in record.items() if k not in ('version', 'released_at')}
  summary = run_summary.RunSummary.from_json(written)
  assert isinstance(summary.test, run_summary.Scores)
  assert summary.test.intervals.mean_iou[0] < summary.test.mean_iou
  assert summary.slices['species=cat'].images == 5 and summary.test.images == 16
  assert summary.baseline.version == 1 and summary.gate.max_mean_iou_drop == 1.0
  assert summary.comparison.verdict == 'worse' and summary.comparison.checks
  assert summary.training.image_size == (96, 96) and summary.data['test'].ingested == 16
  # Its sentence stated the paired interval's half-width as the drops it could detect,
  # about twice the gate's power: read again, it states the precision it measured.
  assert written['sensitivity']['sentence'] == (
      'With 16 test images, mean-IoU drops larger than 0.054 are detectable.')
  assert summary.sensitivity.sentence() == (
      'With 16 test images, the mean IoU is known to \u00b1'
      f"{written['sensitivity']['value_margin']:.3f} (95%).")
  # The same file format; the training settings added since then read as their defaults.
  added = {'encoder_learning_rate_scale': 0.1, 'ema_momentum': 0.0}
  assert {name: getattr(summary.training, name) for name in added} == added
  # The bootstrap's settings and error rate, kept in the gate since, read as not recorded.
  assert (summary.gate.bootstrap_resamples, summary.gate.bootstrap_seed,
          summary.gate.error_rate) == (None, None, None)
  rewritten = summary.to_json()
  for name in added:
    del rewritten['training'][name]
  for name in ('bootstrap_resamples', 'bootstrap_seed', 'error_rate'):
    del rewritten['gate'][name]
  # The checks' bound over all checks at once and the power, kept since, read as none.
  for check in rewritten['comparison']['checks']:
    assert (check.pop('spread'), check.pop('bound')) == (None, None)
  assert rewritten['sensitivity'].pop('refused_drop') is None
  rewritten['sensitivity']['sentence'] = written['sensitivity']['sentence']
  # Its model card repeated the record's figures: what only the card held is the
  # record's own now (the card is drawn from the record).
  card = written.pop('model_card')['model_parameters']['data']
  assert (rewritten.pop('dataset'), rewritten.pop('rejected_by_reason')) == (
      card['dataset'], card['rejected_by_reason'])
  assert rewritten == written
