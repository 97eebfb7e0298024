"""What orchestration costs: `petseg run` (uncached) on the Oxford sample against a plain
script doing the same work in one process.

The plain script lists the same splits, decodes the images and trimaps, resizes them as
Transform does, trains the same model (the Trainer's network, normalisation, loss,
optimizer and mean IoU metric) for the same epochs with the same batch on in-memory
arrays, validating on the eval split and saving the best epoch's weights every epoch as
the Trainer does (Keras' ModelCheckpoint), and scores the test split with the best
weights and a confusion matrix. Both run as fresh processes, imports included. The
pipeline does more: statistics, schema validation, augmentation, a resumable checkpoint
per epoch, TFMA's evaluation with slices and intervals, the gate, the report, the export
with its signatures and the push; the ratio is what all that costs. The Trainer's own
time (ML Metadata) is shown against the script's `fit`, and every step's time: where the
difference goes. The last line is one JSON object.

  python bench/end_to_end.py [--epochs 10] [--image-size 128] [--batch-size 16]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

import common
from petseg.components.example_gen import oxford_reader
from petseg.components.example_gen import sources
from petseg.core import confusion as confusion_lib
from petseg.models import module_file
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import metadata
from petseg.pipeline import pipeline as pipeline_lib
import tensorflow as tf  # pylint: disable=g-bad-import-order
import tf_keras as keras  # pylint: disable=g-bad-import-order


def _arrays(candidates, size):
  """(images uint8 [N, h, w, 3], masks uint8 [N, h, w]) of the pairs Pillow can read."""
  images, masks = [], []
  for candidate in candidates:
    try:
      image = np.asarray(Image.open(candidate.image_path).convert('RGB'))
      trimap = np.asarray(Image.open(candidate.mask_path))
    except OSError:
      continue  # what the pipeline rejects, the script skips
    resized = tf.image.resize(image, size, method='bilinear', antialias=True)
    images.append(tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8).numpy())
    masks.append(tf.image.resize(trimap[..., None] - 1, size, method='nearest')[..., 0]
                 .numpy())
  return np.stack(images), np.stack(masks)


def plain(data_dir: str, epochs: int, image_size: int, batch_size: int) -> dict:
  """The baseline, in this process: {seconds, train_seconds, test mean_iou}."""
  start = time.perf_counter()
  dataset = sources.dataset_config('oxford_pets', data_dir)
  candidates, _ = oxford_reader.list_candidates(data_dir, dataset)
  size = (image_size, image_size)
  train_x, train_y = _arrays([c for c in candidates if c.split == 'train'], size)
  eval_x, eval_y = _arrays([c for c in candidates if c.split == 'eval'], size)
  test_x, test_y = _arrays([c for c in candidates if c.split == 'test'], size)
  config = training.TrainingConfig(image_size=image_size, epochs=epochs,
                                   batch_size=batch_size, num_classes=3)
  keras.utils.set_random_seed(config.seed)
  pixels = train_x.astype(np.float32)
  model = module_file.build_model(config, {'image_mean': pixels.mean(axis=(0, 1, 2)),
                                       'image_std': pixels.std(axis=(0, 1, 2))})
  steps = len(train_x) // batch_size
  model.compile(optimizer=training.optimizer(config, steps, steps * epochs),
                loss=training.SegmentationLoss(np.ones(3, np.float32)),
                metrics=[training.mean_iou(config.num_classes)])
  best = os.path.join(tempfile.mkdtemp(prefix='petseg-plain-'), 'best.weights')
  train_start = time.perf_counter()
  model.fit(pixels, train_y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
            validation_data=(eval_x.astype(np.float32), eval_y),
            callbacks=[keras.callbacks.ModelCheckpoint(
                best, monitor='val_mean_iou', mode='max', save_best_only=True,
                save_weights_only=True)])
  train_seconds = time.perf_counter() - train_start
  model.load_weights(best)
  shutil.rmtree(os.path.dirname(best))
  confusion = np.zeros((3, 3), np.int64)
  predicted = np.argmax(model.predict(test_x.astype(np.float32), batch_size=batch_size,
                                      verbose=0), axis=-1)
  confusion_lib.add(confusion, test_y, predicted)
  return {'seconds': time.perf_counter() - start, 'train_seconds': train_seconds,
          'mean_iou': confusion_lib.scores(confusion)['mean_iou']}


def pipeline(data_dir: str, epochs: int, image_size: int, batch_size: int) -> dict:
  """`petseg run` as a user runs it: {seconds, train_seconds, test mean_iou}."""
  out = tempfile.mkdtemp(prefix='petseg-e2e-')
  start = time.perf_counter()
  petseg = os.path.join(os.path.dirname(sys.executable), 'petseg')
  subprocess.run([petseg, 'run', '--dataset', 'oxford_pets', '--data-dir', data_dir,
                  '--output-dir', out, '--epochs', str(epochs), '--image-size',
                  str(image_size), '--batch-size', str(batch_size)],
                 check=True, stdout=subprocess.DEVNULL)
  seconds = time.perf_counter() - start
  store = metadata.connect(local_runner.metadata_path(out))
  executions = metadata.latest_executions(store, pipeline_lib.PIPELINE_NAME)
  stages = {node: (e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000
            for node, e in executions.items()}
  with open(os.path.join(out, 'run_summary.json')) as f:
    summary = json.load(f)
  shutil.rmtree(out)
  return {'seconds': seconds, 'train_seconds': stages['Trainer'], 'stages': stages,
          'mean_iou': summary['test']['mean_iou']}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--epochs', type=int, default=10)
  parser.add_argument('--image-size', type=int, default=128)
  parser.add_argument('--batch-size', type=int, default=16)
  parser.add_argument('--plain', action='store_true', help=argparse.SUPPRESS)  # the child
  args = parser.parse_args()
  data_dir = os.path.abspath(common.OXFORD_SAMPLE)
  recipe = (data_dir, args.epochs, args.image_size, args.batch_size)
  if args.plain:
    print(json.dumps(plain(*recipe)))
    return
  ours = pipeline(*recipe)
  start = time.perf_counter()
  child = subprocess.run([sys.executable, __file__, '--plain', '--epochs', str(args.epochs),
                          '--image-size', str(args.image_size), '--batch-size',
                          str(args.batch_size)], check=True, stdout=subprocess.PIPE, text=True)
  baseline = json.loads(child.stdout.strip().splitlines()[-1])
  baseline['seconds'] = time.perf_counter() - start  # the whole process, imports included
  print(f'petseg run {ours["seconds"]:.0f} s (Trainer {ours["train_seconds"]:.0f} s, test '
        f'mean IoU {ours["mean_iou"]:.3f}); plain script {baseline["seconds"]:.0f} s '
        f'(training {baseline["train_seconds"]:.0f} s, {baseline["mean_iou"]:.3f})',
        file=sys.stderr)
  common.report({
      'bench': 'end_to_end',
      'epochs': args.epochs, 'image_size': args.image_size, 'batch_size': args.batch_size,
      'ours': round(ours['seconds'], 1),
      'baseline': round(baseline['seconds'], 1),
      'ratio': round(ours['seconds'] / baseline['seconds'], 3),
      'trainer_s': round(ours['train_seconds'], 1),
      'plain_training_s': round(baseline['train_seconds'], 1),
      'stages_s': {node: round(t, 1) for node, t in ours['stages'].items()},
      'ours_mean_iou': round(ours['mean_iou'], 3),
      'baseline_mean_iou': round(baseline['mean_iou'], 3),
  })


if __name__ == '__main__':
  main()
