"""Training throughput: the Trainer's loop against a plain Keras fit on in-memory arrays.

Same model (unet_xception with its normalisation), size, batch, loss and optimizer. The
baseline fits NumPy arrays already in memory (no records, no augmentation); ours fits the
Trainer's tf.data pipeline (records, cache, paired augmentation). A variant compiles with
XLA. Each is timed over one epoch after a warm-up epoch that absorbs the tracing.

  python bench/training.py [--steps 30]
"""
import argparse
import re

import numpy as np
import tensorflow as tf

import common
from petseg.models import input_pipeline
from petseg.models import training

SIZE, BATCH, MODEL = 160, 16, 'unet_xception'


def images_per_second(data, steps, jit_compile=False):
  config = training.TrainingConfig(model=MODEL, image_size=SIZE, batch_size=BATCH)
  model = common.seeded_model(config)
  model.compile(optimizer=training.optimizer(config, steps),
                loss=training.SegmentationLoss(np.ones(3, np.float32)), jit_compile=jit_compile)
  timer = common.EpochTimer()
  if isinstance(data, tf.data.Dataset):
    model.fit(data, steps_per_epoch=steps, epochs=2, callbacks=[timer], verbose=0)
  else:
    images, masks = data
    model.fit(images, masks, batch_size=BATCH, epochs=2, shuffle=True, callbacks=[timer],
              verbose=0)
  return steps * BATCH / timer.seconds[-1]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--steps', type=int, default=30)
  args = parser.parse_args()
  train_files, _ = common.transformed_oxford(SIZE)
  config = training.TrainingConfig(image_size=SIZE, batch_size=BATCH)
  ours_data = input_pipeline.dataset(train_files, config, BATCH, training_split=True)
  # The baseline's arrays: the same transformed images in memory, exactly one epoch's worth.
  pairs = list(input_pipeline.dataset(train_files, config, BATCH, training_split=False)
               .unbatch().repeat().take(args.steps * BATCH))
  arrays = (np.stack([p[0].numpy() for p in pairs]), np.stack([p[1].numpy() for p in pairs]))

  baseline = images_per_second(arrays, args.steps)
  ours = images_per_second(ours_data, args.steps)
  try:
    ours_xla, xla_note = images_per_second(ours_data, args.steps, jit_compile=True), None
  except tf.errors.InvalidArgumentError as e:  # An op without an XLA kernel on this device.
    unsupported = re.search(r'unsupported operations[^:]*: (\w+)', e.message)
    ours_xla = None
    xla_note = 'XLA cannot compile {} here'.format(
        unsupported.group(1) if unsupported else 'the model')
  common.report({'bench': 'training', 'model': MODEL, 'image_size': SIZE, 'batch_size': BATCH,
                 'ours_img_s': round(ours, 2), 'baseline_img_s': round(baseline, 2),
                 'ratio': round(ours / baseline, 3),
                 'ours_xla_img_s': ours_xla and round(ours_xla, 2),
                 'xla_ratio': ours_xla and round(ours_xla / baseline, 3), 'xla_note': xla_note})


if __name__ == '__main__':
  main()
