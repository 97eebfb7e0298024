"""GPU check: the Trainer's model and input pipeline on a GPU, in float32 and in mixed
precision, against each other; and the exported model's masks on the CPU against the GPU's.

  python bench/gpu.py [--epochs 3] [--steps 40]

For each precision policy: unet_xception at 160x160 (the default model and size) trains
`--epochs` epochs of `--steps` steps on the Oxford sample's transformed records (the
Trainer's tf.data pipeline, augmentation included; common.transformed_oxford), with the
Trainer's loss and optimizer. Reported: images per second over the epochs after the first
(which traces), the peak GPU memory, and the exported model's masks for 16 of the sample's
JPEGs (`serving_class_ids`), computed on the GPU here and on the CPU in a process that sees
no GPU, compared pixel by pixel. Mixed precision is what the Trainer turns on when a GPU
is present (module_file.distribution_strategy). The baseline is float32.

Where there is no GPU it says so and exits 0 with `"skipped"` in its JSON line, measuring
nothing. `--device cpu` runs the same steps on the CPU, only to check this script (CI
does): its figures mean nothing.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

import common
from petseg.core import features
from petseg.core import labels as labels_lib
from petseg.models import export
from petseg.models import input_pipeline
from petseg.models import module_file
from petseg.models import training

SIZE, BATCH = 160, 16
POLICIES = ('float32', 'mixed_float16')
NO_GPU = 'bench/gpu.py: no GPU is visible to TensorFlow here; nothing was measured'

# Run in a process that sees no GPU: the exported model's masks on the CPU, as .npy.
_SERVE_ON_CPU = """
import sys, numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
images = tf.constant([open(p, 'rb').read() for p in sys.argv[3:]])
np.save(sys.argv[2], model.signatures['serving_class_ids'](images=images)['class_ids'].numpy())
"""


def _masks_on_cpu(model_dir: str, paths) -> np.ndarray:
  out = os.path.join(model_dir, 'cpu_masks.npy')
  subprocess.run([sys.executable, '-c', _SERVE_ON_CPU, model_dir, out, *paths], check=True,
                 env={**os.environ, 'CUDA_VISIBLE_DEVICES': '-1'})
  return np.load(out)


def measure(policy: str, device: str, train_files, tft_output, epochs: int, steps: int,
            paths) -> dict:
  """One policy's training throughput, peak memory and served masks, GPU against CPU."""
  keras.mixed_precision.set_global_policy(policy)
  config = training.TrainingConfig(image_size=SIZE, batch_size=BATCH, num_classes=3,
                                   epochs=epochs)
  keras.utils.set_random_seed(config.seed)
  gpu = device == 'gpu'
  if gpu:
    tf.config.experimental.reset_memory_stats('GPU:0')
  model = module_file.build_model(config, module_file.read_statistics(train_files, tft_output))
  model.compile(optimizer=training.optimizer(config, steps),
                loss=training.SegmentationLoss(np.ones(3, np.float32)))
  data = input_pipeline.dataset(train_files, config, BATCH, training_split=True)
  timer = common.EpochTimer()
  model.fit(data, steps_per_epoch=steps, epochs=epochs, callbacks=[timer], verbose=0)
  after_tracing = timer.seconds[1:] or timer.seconds
  peak = tf.config.experimental.get_memory_info('GPU:0')['peak'] if gpu else None
  export_dir = os.path.join(tempfile.mkdtemp(prefix='petseg-gpu-bench-'), 'model')
  export.save(model, tft_output, config, labels_lib.oxford_trimap_labels(), export_dir)
  served = tf.saved_model.load(export_dir)
  images = tf.constant([open(p, 'rb').read() for p in paths])
  here = served.signatures['serving_class_ids'](images=images)[features.CLASS_IDS].numpy()
  on_cpu = _masks_on_cpu(export_dir, paths)
  keras.mixed_precision.set_global_policy('float32')
  return {'policy': policy,
          'images_per_second': round(steps * BATCH * len(after_tracing) / sum(after_tracing), 1),
          'peak_gpu_memory_mb': peak and round(peak / 2 ** 20),
          'masks_identical_on_cpu': bool(np.array_equal(here, on_cpu)),
          'mask_pixels_agreeing': round(float(np.mean(here == on_cpu)), 6),
          'loss': round(float(model.history.history['loss'][-1]), 4)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--epochs', type=int, default=3)
  parser.add_argument('--steps', type=int, default=40, help='steps per epoch')
  parser.add_argument('--device', choices=('gpu', 'cpu'), default='gpu',
                      help='cpu: run the same steps without a GPU, to check the script')
  args = parser.parse_args()
  if args.device == 'gpu' and not tf.config.list_physical_devices('GPU'):
    print(NO_GPU, file=sys.stderr)
    common.report({'bench': 'gpu', 'ours': None, 'baseline': None, 'ratio': None,
                   'skipped': 'no GPU'})
    return
  train_files, graph_dir = common.transformed_oxford(SIZE)
  tft_output = tft.TFTransformOutput(graph_dir)
  paths = common.sample_jpegs()
  results = []
  for policy in POLICIES:
    results.append(measure(policy, args.device, train_files, tft_output, args.epochs,
                           args.steps, paths))
    common.report(results[-1])
  baseline, ours = results
  common.report({'bench': 'gpu', 'device': args.device,
                 'gpu': [d.name for d in tf.config.list_physical_devices('GPU')],
                 'ours': ours['images_per_second'], 'baseline': baseline['images_per_second'],
                 'ratio': round(ours['images_per_second'] / baseline['images_per_second'], 2),
                 'results': results})


if __name__ == '__main__':
  main()
