"""What the benchmarks share: transformed records of the real Oxford sample, made by the
real pipeline (one short training epoch) into bench/.cache/ and reused from its cache."""
import json
import os
import sys

import petseg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from petseg import config as config_lib
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import metadata

ROOT = os.path.dirname(os.path.abspath(__file__))
OXFORD_SAMPLE = os.path.join(ROOT, '..', '..', 'shared', 'data', 'oxford-pets-sample')


def transformed_oxford(image_size: int):
  """(train file patterns, transform graph dir) for the Oxford sample at `image_size`."""
  data_dir = os.path.abspath(OXFORD_SAMPLE)
  if not os.path.isdir(data_dir):
    sys.exit(f'{data_dir} is absent: the benchmarks measure the real Oxford sample')
  out = os.path.join(ROOT, '.cache', f'oxford-{image_size}')
  dataset = config_lib.dataset_config('oxford_pets', data_dir)
  local_runner.run(out, data_dir, dataset, training.TrainingConfig(
      image_size=image_size, epochs=1, num_classes=dataset.labels.num_classes))
  store = metadata.connect(local_runner.metadata_path(out))
  executions = metadata.latest_executions(store, pipeline_lib.PIPELINE_NAME)
  examples, = metadata.output_artifacts(store, executions['Transform'].id,
                                        'transformed_examples')
  graph, = metadata.output_artifacts(store, executions['Transform'].id, 'transform_graph')
  return [os.path.join(examples.uri, 'Split-train', '*')], graph.uri


def report(figures: dict) -> None:
  """The benchmark's figures, as one JSON object on the last line."""
  print(json.dumps(figures), flush=True)
