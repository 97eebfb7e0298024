"""Ablation of a recipe on the eval split: one change at a time, each change's effect on
the eval mean IoU with its paired 95% interval, so that the recipe's choices rest on
measurement (README, "Model quality").

  python bench/ablation.py                                  # recipes/oxford_pets.json
  python bench/ablation.py --minutes 6 --changes cross_entropy,no_flip_at_test

Every run is the real pipeline on the recipe's dataset, trained for `--minutes` (the same
wall-clock budget for each, so a cheaper change trains more epochs, as it would in the
recipe) and scored on the eval split with its exported model (models/scoring.py). Runs
share one ML Metadata store, so ingestion and Transform run once per image size. The
baseline is the recipe itself (or, with `--base-run`, a complete run of it already made);
`another_seed` is the recipe again with a different seed, the noise any other change's
effect has to stand out from: the intervals are over eval images and do not hold the
training's own noise. Each run's test split figures (at the model's image size and at
each image's own) are recorded, and choose nothing. One JSON line per run; the last line
holds them all.
"""
import argparse
import os

import common
import model_quality
from petseg.core import config as config_lib
from petseg.pipeline import run_config

# name -> the one change to the recipe's "training" object
CHANGES = {
    'another_seed': {'seed': 7},
    'cross_entropy': {'loss': 'cross_entropy'},
    'dice': {'loss': 'cross_entropy+dice'},
    'median_frequency': {'class_weights': 'median_frequency'},
    'no_flip_at_test': {'test_time_flip': False},
    'image_size_128': {'image_size': [128, 128]},
    'image_size_192': {'image_size': [192, 192]},
    'weak_augmentation': {'min_scale': 1.0, 'max_scale': 1.0, 'colour_jitter': 0.0},
    'strong_augmentation': {'min_scale': 0.5, 'max_scale': 2.0, 'colour_jitter': 0.4},
    'ema': {'ema_momentum': 0.99},
    # The model: the CamVid recipe's was unet_xception until its recheck (README).
    'unet_mobilenetv2': {'model': 'unet_mobilenetv2'},
    'unet_xception': {'model': 'unet_xception'},
}


def _scored(dataset_key: str, settings: dict, out: str, rescore: bool = False):
  run = model_quality.pipeline_run(dataset_key, settings, out, rescore)
  return run, run.summary.class_names, model_quality.eval_matrices(run)


def _test(run) -> dict:
  """The test split's figures, for the record only: choices are made on the eval split."""
  test = run.summary.test
  return {'test_mean_iou': round(test.mean_iou, 4),
          'test_interval': test.intervals.mean_iou and [round(b, 4)
                                                        for b in test.intervals.mean_iou],
          'test_at_own_size': model_quality.at_own_size(run),
          'serving_model_dir': run.serving_model_dir}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--recipe', default='oxford_pets', choices=model_quality.RECIPE_NAMES,
                      help='recipes/NAME.json, the baseline')
  parser.add_argument('--minutes', type=float, default=6,
                      help='training budget of every run (the recipe\'s own is longer)')
  parser.add_argument('--changes', default=','.join(CHANGES))
  parser.add_argument('--base-run', help='the output folder of a complete run of the recipe '
                      'under the same budget (model_quality.py\'s): scored as the baseline '
                      'instead of training it again')
  args = parser.parse_args()
  dataset_key = model_quality.RECIPE_NAMES[args.recipe]
  recipe = config_lib.load_settings(os.path.join(model_quality.RECIPES, f'{args.recipe}.json'))
  budget = {'training': {'max_train_minutes': args.minutes}}
  out = os.path.join(common.ROOT, '.cache', f'ablation-{args.recipe}-{args.minutes:g}')
  base_run, class_names, base = _scored(dataset_key, run_config.merge(recipe, budget),
                                        args.base_run or out, rescore=bool(args.base_run))
  rows = [{'change': 'none (the recipe)', 'epochs': base_run.epochs,
           **model_quality.alone(base, class_names), **_test(base_run)}]
  common.report(rows[-1])
  for name in args.changes.split(','):
    change = CHANGES[name]
    settings = run_config.merge(recipe, {'training': {**change, 'max_train_minutes': args.minutes}})
    run, _, scored = _scored(dataset_key, settings, out)
    if scored.names != base.names:
      raise SystemExit(f'{name}: scored on other eval images than the recipe')
    rows.append({'change': name, 'settings': change, 'epochs': run.epochs,
                 **model_quality.paired(scored, base, class_names), **_test(run)})
    common.report(rows[-1])
  common.report({'bench': 'ablation', 'recipe': args.recipe, 'minutes': args.minutes,
                 'ours': {r['change']: r['eval_mean_iou'] for r in rows[1:]},
                 'baseline': rows[0]['eval_mean_iou'],
                 'ratio': {r['change']: round(r['eval_mean_iou'] / rows[0]['eval_mean_iou'], 3)
                           for r in rows[1:]},
                 'results': rows})


if __name__ == '__main__':
  main()
