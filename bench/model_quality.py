"""Model quality: the shipped recipes, or every model with its seed's settings under one
time budget, trained by the real pipeline on ../shared/data and scored on the test split.

  python bench/model_quality.py                        # recipes/oxford_pets.json, camvid.json
  python bench/model_quality.py --recipes camvid       # one of them
  python bench/model_quality.py --seeds --minutes 10 [--datasets oxford] [--models a,b]

Figures per run: test mean IoU, per-class IoU and pixel accuracy (TFMA's, the release
gate's figures), the best eval mean IoU (the epoch whose weights were kept), epochs,
training minutes and training images per second. The baseline, from the same test
split: predicting its most frequent class everywhere. One JSON line per run; the last
line holds them all.
"""
import argparse
import csv
import os
import time

import numpy as np

import common
from petseg.core import config as config_lib
from petseg.models import registry
from petseg.pipeline import local_runner
from petseg.pipeline import metadata
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config

RECIPES = os.path.join(common.ROOT, '..', 'recipes')
# bench name -> (dataset preset, data directory, recipe file)
DATASETS = {'oxford': ('oxford_pets', common.OXFORD_SAMPLE, 'oxford_pets.json'),
            'camvid': ('camvid', os.path.join(common.OXFORD_SAMPLE, '..', 'camvid'),
                       'camvid.json')}
RECIPE_NAMES = {recipe[:-len('.json')]: key for key, (_, _, recipe) in DATASETS.items()}


def majority_mean_iou(confusion: np.ndarray) -> float:
  """Mean IoU of predicting the most frequent true class at every pixel."""
  truth = confusion.sum(axis=1)
  present = truth > 0
  return float(truth.max() / truth.sum() / present.sum())


def _history(model_run_uri: str):
  with open(os.path.join(model_run_uri, 'history.csv')) as f:
    return [float(row['val_mean_iou']) for row in csv.DictReader(f)]


def run(dataset_key: str, settings: dict, label: str) -> dict:
  """Runs the pipeline with `settings` (a config file's content) and scores it."""
  preset, data_dir, _ = DATASETS[dataset_key]
  data_dir = os.path.abspath(data_dir)
  # Every model is scored, blessed or not.
  whole = run_config.RunConfig.from_settings(
      preset, data_dir, run_config.merge(settings, {'release': {'min_mean_iou': 0.0}}))
  config = whole.training
  out = os.path.join(common.ROOT, '.cache', f'quality-{dataset_key}-{label}')
  start = time.perf_counter()
  run_id = local_runner.run(local_runner.build(out, data_dir, whole), out)
  run_seconds = time.perf_counter() - start
  store = metadata.connect(local_runner.metadata_path(out))
  executions = metadata.run_executions(store, pipeline_lib.PIPELINE_NAME, run_id)
  summary = metadata.run_summary(store, executions)
  trainer = executions['Trainer']
  model_run, = metadata.output_artifacts(store, trainer.id, 'model_run')
  val_mean_iou = _history(model_run.uri)
  train_seconds = (trainer.last_update_time_since_epoch - trainer.create_time_since_epoch) / 1000
  trained_images = len(val_mean_iou) * summary['data']['train']['ingested']
  test = summary['test']
  return {'run': label, 'dataset': dataset_key, 'model': config.model,
          'image_size': config_lib.format_size(config.image_size),
          'crop_size': config_lib.format_size(config.crop),
          'epochs': len(val_mean_iou), 'eval_mean_iou': round(max(val_mean_iou), 4),
          'test_mean_iou': round(test['mean_iou'], 4),
          'baseline_mean_iou': round(majority_mean_iou(np.array(test['confusion_matrix'])), 4),
          'pixel_accuracy': round(test['pixel_accuracy'], 4),
          'per_class_iou': {k: v if v is None else round(v, 3)
                            for k, v in test['per_class_iou'].items()},
          'train_minutes': round(train_seconds / 60, 1),
          'train_images_per_second': round(trained_images / train_seconds, 1),
          'run_minutes': round(run_seconds / 60, 1)}


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
  args = parser.parse_args()
  results = []
  if args.seeds:
    for dataset_key in args.datasets.split(','):
      for model in args.models.split(','):
        results.append(run(dataset_key, seed_settings(model, args.minutes), model))
        common.report(results[-1])
  else:
    for name in args.recipes.split(','):
      dataset_key = RECIPE_NAMES[name]
      settings = config_lib.load_settings(os.path.join(RECIPES, DATASETS[dataset_key][2]))
      results.append(run(dataset_key, settings, name))
      common.report(results[-1])
  common.report({'bench': 'model_quality',
                 'ours': {r['run']: r['test_mean_iou'] for r in results},
                 'baseline': {r['run']: r['baseline_mean_iou'] for r in results},
                 'ratio': {r['run']: round(r['test_mean_iou'] / r['baseline_mean_iou'], 2)
                           for r in results},
                 'results': results})


if __name__ == '__main__':
  main()
