"""The first training step and the first evaluation step of a model, which trace its
train and test functions: with the Trainer's AutoGraph rule for Keras 2
(module_file.keras_as_written) against TensorFlow's rules as they ship.

Each side runs in a process of its own (AutoGraph's cache lives as long as a process);
the same seeded model, compiled as the Trainer compiles it, takes one train step and one
test step on the same random batch, and the losses must agree exactly: the rule changes how
the graph is built, not what it computes.

  python bench/first_step.py [--model unet_xception] [--size 96] [--batch 8]
"""
import argparse
import json
import subprocess
import sys

import common

_SIDE = r'''
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import common
from petseg.models import module_file, training
if sys.argv[2] == 'ours':
  module_file.keras_as_written()
model_name, size, batch = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
config = training.TrainingConfig(model=model_name, num_classes=3, image_size=size,
                                 batch_size=batch)
model = common.seeded_model(config)
module_file._compile(model, config, {}, 10, None)  # pylint: disable=protected-access
rng = np.random.default_rng(0)
x = rng.random((batch, size, size, 3)).astype(np.float32) * 255
y = rng.integers(0, 3, (batch, size, size)).astype(np.int32)
start = time.perf_counter()
train = model.train_on_batch(x, y)
middle = time.perf_counter()
test = model.test_on_batch(x, y)
end = time.perf_counter()
print(json.dumps({'train_s': middle - start, 'test_s': end - middle,
                  'losses': [float(train[0]), float(test[0])]}))
'''


def _side(name: str, args) -> dict:
  done = subprocess.run([sys.executable, '-c', _SIDE, common.ROOT, name, args.model,
                         str(args.size), str(args.batch)], capture_output=True, text=True,
                        check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model', default='unet_xception')
  parser.add_argument('--size', type=int, default=96)
  parser.add_argument('--batch', type=int, default=8)
  args = parser.parse_args()
  ours, baseline = _side('ours', args), _side('baseline', args)
  if ours['losses'] != baseline['losses']:
    raise SystemExit(f'the losses differ: {ours["losses"]} against {baseline["losses"]}')
  first = {side: round(figures['train_s'] + figures['test_s'], 2)
           for side, figures in (('ours', ours), ('baseline', baseline))}
  common.report({'bench': 'first_step', 'model': args.model, 'image_size': args.size,
                 'batch_size': args.batch, 'unit': 'seconds to the end of the first train '
                 'and test steps',
                 'ours_train_s': round(ours['train_s'], 2),
                 'baseline_train_s': round(baseline['train_s'], 2),
                 'ours': first['ours'], 'baseline': first['baseline'],
                 'ratio': round(first['baseline'] / first['ours'], 2)})


if __name__ == '__main__':
  main()
