"""Reader for Oxford-IIIT Pet through TensorFlow Datasets (`oxford_iiit_pet`).

For users with internet: the builder downloads and prepares the dataset into the data
directory on first use. Images and masks are taken as TFDS stores them, still encoded, so
they pass through the same checks as files on disk. TFDS's train split is carved into
train and eval by name hash; its test split is the test split.
"""
import posixpath
from typing import Iterator

import apache_beam as beam

from petseg.components.example_gen import items
from petseg.components.example_gen import listing
from petseg.components.example_gen import oxford_lists
from petseg.core import config as config_lib


_SPLITS = ('train', 'test')  # TFDS's; train is carved into train and eval


def fingerprint_patterns(config: config_lib.DatasetConfig) -> dict:
  return listing.fingerprint_patterns((f'{config.tfds_name}/*/*',))


def _builder(data_dir: str, config: config_lib.DatasetConfig):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds.builder(config.tfds_name, data_dir=data_dir)


def _prepare(unused_seed, data_dir: str, config: config_lib.DatasetConfig) -> Iterator[str]:
  """Downloads and prepares the dataset, once for every split; yields the splits."""
  _builder(data_dir, config).download_and_prepare()
  yield from _SPLITS


def _read_split(tfds_split: str, data_dir: str,
                config: config_lib.DatasetConfig) -> Iterator[items.Candidate]:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = _builder(data_dir, config)
  dataset = builder.as_dataset(split=tfds_split, decoders={
      'image': tfds.decode.SkipDecoding(), 'segmentation_mask': tfds.decode.SkipDecoding()})
  species_names = builder.info.features['species'].names
  for example in tfds.as_numpy(dataset):
    file_name = example['file_name'].decode()
    name = posixpath.splitext(file_name)[0]
    where = f'tfds:{config.tfds_name}/{tfds_split}'
    yield items.Candidate(
        split=listing.carve(name, config.eval_fraction) if tfds_split == 'train' else 'test',
        name=name,
        image_path=f'{where}/{file_name}',
        mask_path=f'{where}/{name}.png',
        metadata=(('species', species_names[example['species']].lower()),
                  ('breed', oxford_lists.breed_of(name))),
        image_bytes=example['image'],
        mask_bytes=example['segmentation_mask'])


def read(pipeline: beam.Pipeline, data_dir: str, config: config_lib.DatasetConfig):
  """Candidates read by the Beam workers; TFDS has no loose files to report. The data is
  prepared once, in one stage, before any split is read; the still-encoded items are then
  spread over every worker, which decode them (as the file sources' items are)."""
  candidates = (pipeline
                | 'TfdsPrepare' >> beam.Create([None])
                | 'Prepare' >> beam.FlatMap(_prepare, data_dir, config)
                | 'TfdsSplits' >> beam.Reshuffle()
                | 'ReadTfds' >> beam.FlatMap(_read_split, data_dir, config)
                | 'Spread' >> beam.Reshuffle())
  return candidates, []
