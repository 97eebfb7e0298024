"""Model quality: the shipped recipes, or every model with its seed's settings under one
time budget, trained by the real pipeline on ../shared/data and scored on the test split.

  python bench/model_quality.py                        # recipes/oxford_pets.json, camvid.json
  python bench/model_quality.py --recipes camvid       # one of them
  python bench/model_quality.py --seeds --minutes 10 [--datasets oxford] [--models a,b]
  python bench/model_quality.py --rescore ...          # score the last runs again, no run

Figures per run: test mean IoU, per-class IoU and pixel accuracy (TFMA's, the release
gate's figures) with their 95% intervals, the best eval mean IoU (the epoch whose weights
were kept), epochs, training minutes, training images per second and the model's weights;
the test split is also scored at each image's own size (the masks a user is served, as
published figures are given: CamVid's at 360x480), and a recipe for the 33 breeds on the
3-breed sample's test split. With --seeds, each model is compared with the best of a
dataset's on the eval split, paired (`eval_against_best`): the split a choice is made on.
The baseline, from the same test split: predicting its most frequent class everywhere.
One JSON line per run; the last line holds them all.
"""
import argparse
import csv
import dataclasses
import os
import time
from typing import Dict, Optional, Sequence, Tuple

from ml_metadata.proto import metadata_store_pb2
import numpy as np
import tensorflow as tf

import common
from petseg import released_model
from petseg.components.example_gen import component as example_gen
from petseg.components.example_gen import sources
from petseg.components.release_record import component as release_record
from petseg.components.trainer import component as trainer_lib
from petseg.core import bootstrap
from petseg.core import config as config_lib
from petseg.core import confusion as confusion_lib
from petseg.core import records
from petseg.models import input_pipeline
from petseg.models import registry
from petseg.models import scoring
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import metadata
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config
from petseg.records import summary as run_summary

RECIPES = os.path.join(common.ROOT, '..', 'recipes')
SHARED_DATA = os.path.join(common.OXFORD_SAMPLE, '..')
# bench name -> (dataset preset, data directory)
DATASETS = {'oxford33': ('oxford_pets', os.path.join(SHARED_DATA, 'oxford-pets-33breeds')),
            'oxford': ('oxford_pets', common.OXFORD_SAMPLE),
            'camvid': ('camvid', os.path.join(SHARED_DATA, 'camvid'))}
# recipes/NAME.json -> the bench dataset it is made for
RECIPE_NAMES = {'oxford_pets': 'oxford33', 'camvid': 'camvid'}


def majority_mean_iou(confusion: np.ndarray) -> float:
  """Mean IoU of predicting the most frequent true class at every pixel."""
  truth = confusion.sum(axis=1)
  present = truth > 0
  return float(truth.max() / truth.sum() / present.sum())


def _producer(store, artifact) -> metadata_store_pb2.Execution:
  """The execution that made `artifact` (not one that reused it from the cache)."""
  ids = [e.execution_id for e in store.get_events_by_artifact_ids([artifact.id])
         if e.type == metadata_store_pb2.Event.OUTPUT]
  made, = [e for e in store.get_executions_by_id(ids)
           if e.last_known_state == metadata_store_pb2.Execution.COMPLETE]
  return made


def _history(model_run_uri: str):
  with open(os.path.join(model_run_uri, 'history.csv')) as f:
    return [float(row['val_mean_iou']) for row in csv.DictReader(f)]


@dataclasses.dataclass(frozen=True)
class Run:
  """One pipeline run of the bench: what it trained and where its outputs are."""
  config: training.TrainingConfig
  summary: run_summary.RunSummary
  epochs: int
  eval_mean_iou: float  # the best epoch's: the weights kept
  train_seconds: float
  run_seconds: Optional[float]  # None when it was read again (--rescore)
  serving_model_dir: str  # the Trainer's export, blessed or not
  examples_uri: str  # the raw records' artifact


def _last_complete_run(store) -> str:
  """The id of the newest run that reached its release record."""
  done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
  records = [e for e in metadata.executions(store, pipeline_lib.PIPELINE_NAME,
                                            release_record.NODE_ID)
             if e.last_known_state in done]
  if not records:
    raise SystemExit('no complete run to score again: run without --rescore')
  return metadata.run_id_of(store, records[-1])


def pipeline_run(dataset_key: str, settings: dict, out: str, rescore: bool = False) -> Run:
  """Runs the pipeline with `settings` (a config file's content) into `out`; every model
  is scored, whatever it scores (the bench compares, the gate does not). Runs into the
  same `out` reuse each other's steps where their inputs and settings are the same.
  `rescore`: no run, the last complete one in `out` is read again (run_seconds None)."""
  preset, data_dir = DATASETS[dataset_key]
  data_dir = os.path.abspath(data_dir)
  whole = run_config.RunConfig.from_settings(
      preset, data_dir, run_config.merge(settings, {'release': {'min_mean_iou': 0.0}}))
  run_id, run_seconds = None, None
  if not rescore:
    start = time.perf_counter()
    run_id = local_runner.run(local_runner.build(out, data_dir, whole), out)
    run_seconds = time.perf_counter() - start
  store = metadata.connect(local_runner.metadata_path(out))
  executions = metadata.run_executions(store, pipeline_lib.PIPELINE_NAME,
                                       run_id or _last_complete_run(store))
  model_run, = metadata.output_artifacts(store, executions[trainer_lib.NODE_ID].id,
                                         'model_run')
  model, = metadata.output_artifacts(store, executions[trainer_lib.NODE_ID].id, 'model')
  trainer = _producer(store, model)  # a cached Trainer took no time: the one that trained
  examples, = metadata.output_artifacts(store, executions[example_gen.NODE_ID].id,
                                         'examples')
  val_mean_iou = _history(model_run.uri)
  return Run(whole.training, metadata.run_result(store, executions).summary, len(val_mean_iou),
             max(val_mean_iou),
             (trainer.last_update_time_since_epoch - trainer.create_time_since_epoch) / 1000,
             run_seconds, os.path.join(model.uri, 'Format-Serving'), examples.uri)


def run(dataset_key: str, settings: dict, label: str,
        rescore: bool = False) -> Tuple[dict, Run]:
  """Runs the pipeline with `settings` and scores it on the test split, with intervals:
  (the figures, the run)."""
  result = pipeline_run(dataset_key, settings,
                        os.path.join(common.ROOT, '.cache', f'quality-{dataset_key}-{label}'),
                        rescore)
  config, test = result.config, result.summary.test
  trained_images = result.epochs * result.summary.data['train'].ingested
  figures = {'run': label, 'dataset': dataset_key, 'model': config.model,
             'image_size': config_lib.format_size(config.image_size),
             'crop_size': config_lib.format_size(config.crop),
             'parameters': _parameters(result.serving_model_dir),
             'epochs': result.epochs, 'eval_mean_iou': round(result.eval_mean_iou, 4),
             'test_images': result.summary.data['test'].ingested,
             'test_mean_iou': round(test.mean_iou, 4),
             'test_intervals': _rounded(records.fields_to_json(test.intervals)),
             'baseline_mean_iou': round(majority_mean_iou(np.array(test.confusion_matrix)), 4),
             'pixel_accuracy': round(test.pixel_accuracy, 4),
             'per_class_iou': _class_ious(test.per_class_iou),
             'train_minutes': round(result.train_seconds / 60, 1),
             'train_images_per_second': round(trained_images / result.train_seconds, 1),
             'run_minutes': result.run_seconds and round(result.run_seconds / 60, 1),
             'test_at_own_size': at_own_size(result)}
  if dataset_key == 'oxford33':  # and on the sample's own test split (3 other breeds)
    sample = released_model.evaluate(
        result.serving_model_dir, sources.dataset_config('oxford_pets', common.OXFORD_SAMPLE),
        os.path.abspath(common.OXFORD_SAMPLE))
    figures['sample_test'] = {k: sample.to_json()[k] for k in ('examples', 'mean_iou', 'per_class_iou',
                                                     'intervals')}
  return figures, result


def at_own_size(run: Run) -> dict:
  """The test split scored at each image's own size, as published figures are (CamVid's
  at 360x480): the masks served, upsampled from the model's size, against the original
  masks; with the 95% interval of the mean."""
  class_names = list(run.summary.class_names)
  scored = scoring.image_matrices(run.serving_model_dir,
                                  [input_pipeline.split_pattern(run.examples_uri, 'test')],
                                  len(class_names), at_own_size=True)
  scores = confusion_lib.scores(scored.confusion, class_names)
  return {'mean_iou': round(scores['mean_iou'], 4),
          'interval': scoring.intervals([scored], class_names)[0]['mean_iou'],
          'per_class_iou': _class_ious(scores['per_class_iou'])}


def eval_matrices(run: Run) -> bootstrap.ImageMatrices:
  """Each eval image's confusion matrix under the run's exported model."""
  return scoring.image_matrices(run.serving_model_dir,
                                [input_pipeline.split_pattern(run.examples_uri, 'eval')],
                                len(run.summary.class_names))


def alone(scored: bootstrap.ImageMatrices, class_names: Sequence[str]) -> dict:
  """`scored`'s mean IoU on its images, with its 95% interval and the number of images."""
  own, = scoring.intervals([scored], class_names)
  return {'eval_mean_iou': round(float(bootstrap.statistics(scored.confusion)[-2]), 4),
          'interval': own['mean_iou'], 'eval_images': own['images']}


def paired(scored: bootstrap.ImageMatrices, base: bootstrap.ImageMatrices,
           class_names: Sequence[str]) -> dict:
  """`scored` against `base` on the same images: its mean IoU with its 95% interval, and
  the paired differences (scored minus base) of the mean and of each class's IoU, with
  theirs."""
  ours, _, difference = scoring.intervals([scored, base], class_names)
  statistics = bootstrap.statistics(scored.confusion)  # class IoUs, mean IoU, accuracy
  values = statistics - bootstrap.statistics(base.confusion)
  return {'eval_mean_iou': round(float(statistics[-2]), 4), 'interval': ours['mean_iou'],
          'difference': round(float(values[-2]), 4),
          'difference_interval': difference['mean_iou'],
          'class_differences': {n: round(float(v), 4)
                                for n, v in zip(class_names, values[:-2])},
          'class_difference_intervals': difference['per_class_iou']}


def against_the_best(runs: Dict[str, Run]) -> Dict[str, dict]:
  """Each run against the best on the eval split, paired (the best: its own figure and
  interval): the choice between models is made there, as any other setting's (the test
  split chooses nothing)."""
  scored = {label: eval_matrices(r) for label, r in runs.items()}
  best = max(scored, key=lambda label: bootstrap.statistics(scored[label].confusion)[-2])
  class_names = runs[best].summary.class_names
  compared = {label: {'best': best, **paired(matrices, scored[best], class_names)}
              for label, matrices in scored.items() if label != best}
  return {**compared, best: {'best': best, **alone(scored[best], class_names)}}


def _class_ious(per_class: Dict[str, Optional[float]]) -> Dict[str, Optional[float]]:
  return {k: v if v is None else round(v, 3) for k, v in per_class.items()}


def _rounded(figures):
  """Floats (in nested lists and dicts) to 4 decimals."""
  if isinstance(figures, dict):
    return {k: _rounded(v) for k, v in figures.items()}
  if isinstance(figures, list):
    return [_rounded(v) for v in figures]
  return round(figures, 4) if isinstance(figures, float) else figures


def _parameters(model_dir: str) -> int:
  """The exported model's trainable and frozen weights, counted: the variables that its
  prediction signature reads (the export keeps no Keras object to ask)."""
  loaded = tf.saved_model.load(model_dir)  # kept: the signature's variables are its
  return int(sum(np.prod(v.shape) for v in loaded.signatures['serving_examples'].variables))


def seed_settings(model: str, minutes: float) -> dict:
  """A model at its seed's input size (TrainingConfig's defaults otherwise, batch 8),
  trained for at most `minutes`."""
  return {'training': {'model': model, 'image_size': registry.get(model).default_size,
                       'batch_size': 8, 'epochs': 500, 'max_train_minutes': minutes,
                       'early_stopping_patience': 500}}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--recipes', default=','.join(RECIPE_NAMES),
                      help='recipes/NAME.json to run (default: all)')
  parser.add_argument('--seeds', action='store_true',
                      help='instead: every model with its seed\'s settings, --minutes each')
  parser.add_argument('--minutes', type=float, default=10)
  parser.add_argument('--models', default=','.join(registry.MODELS))
  parser.add_argument('--datasets', default=','.join(DATASETS))
  parser.add_argument('--rescore', action='store_true',
                      help='score the last complete run of each again, running nothing')
  args = parser.parse_args()
  results = []
  if args.seeds:
    for dataset_key in args.datasets.split(','):
      runs = {}
      for model in args.models.split(','):
        figures, runs[model] = run(dataset_key, seed_settings(model, args.minutes), model,
                                   args.rescore)
        results.append(figures)
        common.report(figures)
      compared = against_the_best(runs)
      for figures in results[-len(runs):]:
        figures['eval_against_best'] = compared[figures['run']]
      common.report({'dataset': dataset_key, 'eval_against_best': compared})
  else:
    for name in args.recipes.split(','):
      dataset_key = RECIPE_NAMES[name]
      settings = config_lib.load_settings(os.path.join(RECIPES, f'{name}.json'))
      results.append(run(dataset_key, settings, name, args.rescore)[0])
      common.report(results[-1])
  common.report({'bench': 'model_quality',
                 'ours': {r['run']: r['test_mean_iou'] for r in results},
                 'baseline': {r['run']: r['baseline_mean_iou'] for r in results},
                 'ratio': {r['run']: round(r['test_mean_iou'] / r['baseline_mean_iou'], 2)
                           for r in results},
                 'results': results})


if __name__ == '__main__':
  main()
