"""What the benchmarks share: transformed records and a model of the real Oxford sample,
made by the real pipeline (one short training epoch) into bench/.cache/ and reused from
its cache."""
import glob
import json
import os
import sys
import time

import petseg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import tf_keras as keras

from petseg.components.example_gen import sources
from petseg.models import input_pipeline
from petseg.models import module_file
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import metadata
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config

ROOT = os.path.dirname(os.path.abspath(__file__))
OXFORD_SAMPLE = os.path.join(ROOT, '..', '..', 'shared', 'data', 'oxford-pets-sample')


def _oxford_run(image_size: int):
  """(ML Metadata store, latest executions) of the pipeline on the Oxford sample."""
  data_dir = os.path.abspath(OXFORD_SAMPLE)
  if not os.path.isdir(data_dir):
    sys.exit(f'{data_dir} is absent: the benchmarks measure the real Oxford sample')
  out = os.path.join(ROOT, '.cache', f'oxford-{image_size}')
  dataset = sources.dataset_config('oxford_pets', data_dir)
  config = run_config.RunConfig(dataset, training.TrainingConfig(
      image_size=image_size, epochs=1, num_classes=dataset.labels.num_classes))
  local_runner.run(local_runner.build(out, data_dir, config), out)
  store = metadata.connect(local_runner.metadata_path(out))
  return store, metadata.latest_executions(store, pipeline_lib.PIPELINE_NAME)


def transformed_oxford(image_size: int, split: str = 'train'):
  """(file patterns of `split`, transform graph dir) for the Oxford sample at `image_size`."""
  store, executions = _oxford_run(image_size)
  examples, = metadata.output_artifacts(store, executions['Transform'].id,
                                        'transformed_examples')
  graph, = metadata.output_artifacts(store, executions['Transform'].id, 'transform_graph')
  return [input_pipeline.split_pattern(examples.uri, split)], graph.uri


def sample_jpegs(count: int = 16):
  """The paths of the Oxford sample's first `count` JPEGs (by name): the photos the
  serving benchmarks send."""
  return sorted(glob.glob(os.path.join(OXFORD_SAMPLE, 'images', '*.jpg')))[:count]


def trained_oxford_model(image_size: int) -> str:
  """The SavedModel that the Trainer exported (one epoch on the Oxford sample)."""
  store, executions = _oxford_run(image_size)
  model, = metadata.output_artifacts(store, executions['Trainer'].id, 'model')
  return os.path.join(model.uri, 'Format-Serving')


def seeded_model(config: training.TrainingConfig) -> keras.Model:
  """The Trainer's model for `config`, seeded, with a fixed normalisation: for timing,
  where no statistics of the data matter."""
  keras.utils.set_random_seed(config.seed)
  return module_file.build_model(config, {'image_mean': np.full(3, 120, np.float32),
                                          'image_std': np.full(3, 60, np.float32)})


class EpochTimer(keras.callbacks.Callback):
  """Each epoch's seconds, in `seconds`."""

  def on_train_begin(self, logs=None):
    self.seconds = []

  def on_epoch_begin(self, epoch, logs=None):
    self.start = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    self.seconds.append(time.perf_counter() - self.start)


def report(figures: dict) -> None:
  """The benchmark's figures, as one JSON object on the last line."""
  print(json.dumps(figures), flush=True)
