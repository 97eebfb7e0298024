"""Model quality: each model trained by the real pipeline, scored on the test split.

For each dataset (the Oxford sample: trainval -> test; CamVid: train -> test) and model,
runs `create_pipeline()` locally and scores the exported model with NumPy. The baseline
is a model that predicts the most frequent class everywhere. One JSON line per run; the
last line holds them all.

  python bench/model_quality.py [--epochs 15] [--models unet_xception,...] [--datasets oxford,camvid]
"""
import argparse
import os
import time

import numpy as np

import common
from petseg import config as config_lib
from petseg import evaluation
from petseg.models import registry
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import metadata

DATASETS = {'oxford': ('oxford_pets', common.OXFORD_SAMPLE),
            'camvid': ('folder', os.path.join(common.OXFORD_SAMPLE, '..', 'camvid'))}
# CPU budget: sizes of 160 (MobileNetV2's U-Net keeps its own 128) instead of 224.
SIZES = {'unet_mobilenetv2': 128}


def majority_mean_iou(confusion: np.ndarray) -> float:
  """Mean IoU of predicting the most frequent true class at every pixel."""
  truth = confusion.sum(axis=1)
  present = truth > 0
  return float(truth.max() / truth.sum() / present.sum())


def run(dataset_key, model, epochs):
  preset, data_dir = DATASETS[dataset_key]
  data_dir = os.path.abspath(data_dir)
  dataset = config_lib.dataset_config(preset, data_dir)
  config = training.TrainingConfig(model=model, image_size=SIZES.get(model, 160),
                                   epochs=epochs, batch_size=8,
                                   num_classes=dataset.labels.num_classes)
  out = os.path.join(common.ROOT, '.cache', f'quality-{dataset_key}')
  start = time.perf_counter()
  local_runner.run(out, data_dir, dataset, config)
  run_seconds = time.perf_counter() - start
  store = metadata.connect(local_runner.metadata_path(out))
  executions = metadata.latest_executions(store, pipeline_lib.PIPELINE_NAME)
  trainer = executions['Trainer']
  model_dir, = metadata.output_artifacts(store, trainer.id, 'model')
  examples, = metadata.output_artifacts(store, executions['ExampleGen'].id, 'examples')
  confusion = evaluation.confusion_matrix(
      os.path.join(model_dir.uri, 'Format-Serving'),
      [os.path.join(examples.uri, 'Split-test', '*')], dataset.labels.num_classes)
  result = evaluation.scores(confusion, list(dataset.labels.class_names))
  return {'dataset': dataset_key, 'model': model, 'image_size': config.image_size,
          'epochs': epochs, 'test_mean_iou': round(result['mean_iou'], 4),
          'baseline_mean_iou': round(majority_mean_iou(confusion), 4),
          'pixel_accuracy': round(result['pixel_accuracy'], 4),
          'per_class_iou': {k: v and round(v, 3) for k, v in result['per_class_iou'].items()},
          'train_seconds': round((trainer.last_update_time_since_epoch
                                  - trainer.create_time_since_epoch) / 1000),
          'run_seconds': round(run_seconds)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--epochs', type=int, default=15)
  parser.add_argument('--models', default=','.join(registry.MODELS))
  parser.add_argument('--datasets', default='oxford,camvid')
  args = parser.parse_args()
  results = []
  for dataset_key in args.datasets.split(','):
    for model in args.models.split(','):
      results.append(run(dataset_key, model, args.epochs))
      common.report(results[-1])
  common.report({'bench': 'model_quality', 'results': results})


if __name__ == '__main__':
  main()
