"""The Trainer's per-epoch work against Keras' own: epochs of `fit` with the Trainer's
callbacks, against the same `fit` with Keras' standard pair for the same jobs, each
callback's seconds per epoch measured.

Both sides fit the same model (unet_xception at 160, the Trainer's loss, optimizer and
mean IoU metric) on the Trainer's input pipeline over the Oxford sample's records, and
validate on its eval split every epoch: only the callbacks differ. Ours are the Trainer's
(models/module_file.run_fn): KeepBest (the best epoch's weights, early stopping),
TensorBoard, CSVLogger, Progress and Resume (weights, optimizer and state for resuming
after a kill). Keras' are ModelCheckpoint (the best epoch's weights) and BackupAndRestore
(resuming). Epochs after the first (tracing) are timed, validation and callbacks included.
`ratio` is speed: the baseline's seconds per epoch over ours.

  python bench/trainer_callbacks.py [--steps 30] [--epochs 4]
"""
import argparse
import os
import tempfile
import time

import numpy as np
import tf_keras as keras

import common
from petseg.models import input_pipeline
from petseg.models import training

SIZE, BATCH = 160, 16
_HOOKS = ('on_train_begin', 'on_train_end', 'on_epoch_begin', 'on_epoch_end',
          'on_test_begin', 'on_test_end', 'on_train_batch_begin', 'on_train_batch_end',
          'on_test_batch_begin', 'on_test_batch_end')


class _Timed(keras.callbacks.Callback):
  """Another callback, with the seconds its hooks took in `seconds`."""

  def __init__(self, inner: keras.callbacks.Callback):
    super().__init__()
    self.inner, self.seconds = inner, 0.0
    self._supports_tf_logs = getattr(inner, '_supports_tf_logs', False)

  def set_model(self, model):
    super().set_model(model)
    self.inner.set_model(model)

  def set_params(self, params):
    super().set_params(params)
    self.inner.set_params(params)

  def _implements_train_batch_hooks(self):
    return self.inner._implements_train_batch_hooks()  # pylint: disable=protected-access

  def _implements_test_batch_hooks(self):
    return self.inner._implements_test_batch_hooks()  # pylint: disable=protected-access


def _forwarded(hook: str):
  def timed(self, *args, **kwargs):
    start = time.perf_counter()
    getattr(self.inner, hook)(*args, **kwargs)
    self.seconds += time.perf_counter() - start
  return timed


for _hook in _HOOKS:
  setattr(_Timed, _hook, _forwarded(_hook))


class _Clock(common.EpochTimer):
  """Seconds of each epoch (`seconds`), validation and the other callbacks' epoch ends
  included (it comes last), and of each validation (`validations`)."""

  def on_train_begin(self, logs=None):
    super().on_train_begin(logs)
    self.validations = []

  def on_test_begin(self, logs=None):
    self._test = time.perf_counter()

  def on_test_end(self, logs=None):
    self.validations.append(time.perf_counter() - self._test)


def _trainer_callbacks(folder: str, epochs: int):
  keep_best = training.KeepBest('val_mean_iou', patience=epochs)
  history = os.path.join(folder, 'history.csv')
  resume = training.Resume(os.path.join(folder, 'resume'), keep_best, history)
  os.makedirs(resume.directory)
  return [keep_best, keras.callbacks.TensorBoard(os.path.join(folder, 'logs')),
          keras.callbacks.CSVLogger(history, append=True),
          training.Progress(keep_best, epochs), resume]


def _keras_callbacks(folder: str, epochs: int):
  del epochs
  return [keras.callbacks.ModelCheckpoint(os.path.join(folder, 'best.weights'),
                                          monitor='val_mean_iou', mode='max',
                                          save_best_only=True, save_weights_only=True),
          keras.callbacks.BackupAndRestore(os.path.join(folder, 'backup'))]


def _epochs(callbacks_of, train, evaluation, steps: int, epochs: int):
  config = training.TrainingConfig(image_size=SIZE, batch_size=BATCH)
  model = common.seeded_model(config)
  model.compile(optimizer=training.optimizer(config, steps),
                loss=training.SegmentationLoss(np.ones(3, np.float32)),
                metrics=[training.mean_iou(config.num_classes)])
  with tempfile.TemporaryDirectory() as folder:
    timed = [_Timed(c) for c in callbacks_of(folder, epochs)]
    clock = _Clock()
    model.fit(train, steps_per_epoch=steps, validation_data=evaluation, epochs=epochs,
              callbacks=[*timed, clock], verbose=0)
  per_epoch = lambda seconds: round(seconds / epochs, 3)  # noqa: E731
  return {'epoch_s': round(float(np.mean(clock.seconds[1:])), 2),
          'validation_s': round(float(np.mean(clock.validations[1:])), 2),
          'callbacks_s_per_epoch': {type(t.inner).__name__: per_epoch(t.seconds)
                                    for t in timed}}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--steps', type=int, default=30)
  parser.add_argument('--epochs', type=int, default=4)
  args = parser.parse_args()
  train_files, _ = common.transformed_oxford(SIZE)
  eval_files, _ = common.transformed_oxford(SIZE, 'eval')
  config = training.TrainingConfig(image_size=SIZE, batch_size=BATCH)
  train = input_pipeline.dataset(train_files, config, BATCH, training_split=True)
  evaluation = input_pipeline.dataset(eval_files, config, BATCH, training_split=False,
                                      examples=input_pipeline.count(eval_files))
  baseline = _epochs(_keras_callbacks, train, evaluation, args.steps, args.epochs)
  common.report({'side': 'keras', **baseline})
  ours = _epochs(_trainer_callbacks, train, evaluation, args.steps, args.epochs)
  common.report({'side': 'trainer', **ours})
  common.report({'bench': 'trainer_callbacks', 'steps': args.steps, 'batch_size': BATCH,
                 'ours': ours['epoch_s'], 'baseline': baseline['epoch_s'],
                 'ratio': round(baseline['epoch_s'] / ours['epoch_s'], 3),
                 'results': {'trainer': ours, 'keras': baseline}})


if __name__ == '__main__':
  main()
