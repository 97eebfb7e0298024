"""Ingest throughput: the ExampleGen executor (Beam) against a plain single-process loop.

Both read the same dataset and write the same gzipped TFRecords (checked record by record),
so the ratio is what Beam's machinery costs or wins. The last line is one JSON object.

  python bench/ingest.py [--data-dir ../shared/data/oxford-pets-sample] [-- BEAM_ARGS...]
"""
import argparse
import os
import sys
import tempfile
import time

import common
from petseg.components.example_gen import component as example_gen
from petseg.components.example_gen import decoding
from petseg.components.example_gen import items
from petseg.components.example_gen import listing
from petseg.components.example_gen import oxford_reader
from petseg.components.example_gen import sources
from petseg.models import input_pipeline
from petseg.pipeline import beam_args as beam_args_lib
import tensorflow as tf


def plain_loop(data_dir, config, out_dir):
  """The baseline: list, decode and write one item after another in this process."""
  candidates, _ = oxford_reader.list_candidates(data_dir, config)
  options = tf.io.TFRecordOptions(compression_type='GZIP')
  writers = {split: tf.io.TFRecordWriter(os.path.join(out_dir, f'{split}.gz'), options)
             for split in listing.SPLITS}
  for candidate in candidates:
    try:
      example, _ = decoding.to_example(candidate, config.labels)
    except items.Rejected:
      continue
    writers[candidate.split].write(example)
  for writer in writers.values():
    writer.close()


def records(pattern):
  """The records as canonical bytes: proto maps serialize in no fixed order otherwise."""
  return sorted(tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
                for r in input_pipeline.records([pattern]))


def main():
  argv = sys.argv[1:]
  beam_args = argv[argv.index('--') + 1:] if '--' in argv else []
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--data-dir', default=common.OXFORD_SAMPLE)
  args = parser.parse_args(argv[:argv.index('--')] if '--' in argv else argv)
  data_dir = os.path.abspath(args.data_dir)
  config = sources.dataset_config('oxford_pets', data_dir)

  with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    examples = example_gen.ingest(data_dir, config, os.path.join(tmp, 'ours'),
                                  beam_args_lib.checked(beam_args))
    ours_s = time.perf_counter() - start

    os.makedirs(os.path.join(tmp, 'baseline'))
    start = time.perf_counter()
    plain_loop(data_dir, config, os.path.join(tmp, 'baseline'))
    baseline_s = time.perf_counter() - start

    for split in listing.SPLITS:
      ours = records(input_pipeline.split_pattern(examples.uri, split))
      assert ours == records(os.path.join(tmp, 'baseline', f'{split}.gz')), split
    images = sum(examples.get_int_custom_property(f'{s}_examples') for s in listing.SPLITS)

  print(f'{images} images: ExampleGen {ours_s:.1f} s, plain loop {baseline_s:.1f} s',
        file=sys.stderr)
  common.report({
      'bench': 'ingest',
      'images': images,
      'ours_img_s': round(images / ours_s, 1),
      'baseline_img_s': round(images / baseline_s, 1),
      'ratio': round(baseline_s / ours_s, 3),
      'beam_args': beam_args,
  })


if __name__ == '__main__':
  main()
