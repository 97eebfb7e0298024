"""The training recipe's parts: loss, learning-rate schedule, optimizer,
class weights. Each is small and tested on its own; trainer.run_fn puts them together.
"""
import io
import json
import math
import posixpath
import time
from typing import Any, Dict, Mapping, Optional, Sequence

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras as keras

from petseg.core import labels as labels_lib
from petseg.core import progress
from petseg.core.labels import IGNORE_ID
from petseg.models import recipe
# The recipe's settings live without TensorFlow (models/recipe.py); the Trainer's code
# reads them here as training.TrainingConfig.
from petseg.models.recipe import TrainingConfig  # noqa: F401  pylint: disable=unused-import


# Written by the Trainer into its model_run artifact: the configuration it trained with.
CONFIG_FILE = 'training_config.json'
# The Trainer's custom_config key for where a run keeps what it needs to resume (Resume).
RESUME_DIR_KEY = 'resume_dir'


def recorded(custom_config: Mapping[str, Any]) -> Dict[str, Any]:
  """What a run records of its training settings (CONFIG_FILE; the release record's
  settings fingerprint): the TrainingConfig that the Trainer's custom_config holds (its
  runtime parameters folded in), and the labels."""
  settings = {k: v for k, v in custom_config.items() if k not in ('labels', RESUME_DIR_KEY)}
  return {**TrainingConfig.from_json(settings).to_json(),
          'labels': labels_lib.LabelSpec.from_json(custom_config['labels']).to_json()}


def _labelled_probabilities(labels, logits):
  """Flattened: (softmax probabilities [N, C], one-hot labels [N, C]), both zero at the
  pixels labelled IGNORE_ID."""
  num_classes = logits.shape[-1]
  labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
  labelled = tf.cast(labels != IGNORE_ID, tf.float32)[:, tf.newaxis]
  probabilities = tf.nn.softmax(tf.reshape(tf.cast(logits, tf.float32), [-1, num_classes]))
  one_hot = tf.one_hot(tf.where(labels == IGNORE_ID, 0, labels), num_classes)
  return probabilities * labelled, one_hot * labelled


def _mean_over_present(per_class, one_hot):
  """The mean of a per-class loss over the classes the labels hold (0 if none)."""
  present = tf.cast(tf.reduce_sum(one_hot, axis=0) > 0, tf.float32)
  return tf.math.divide_no_nan(tf.reduce_sum(per_class * present), tf.reduce_sum(present))


def dice_loss(labels, logits):
  """1 - soft Dice over the batch, averaged over the classes present in the labels."""
  probabilities, one_hot = _labelled_probabilities(labels, logits)
  intersection = tf.reduce_sum(probabilities * one_hot, axis=0)
  total = tf.reduce_sum(probabilities, axis=0) + tf.reduce_sum(one_hot, axis=0)
  return _mean_over_present(1 - tf.math.divide_no_nan(2 * intersection, total), one_hot)


def lovasz_softmax_loss(labels, logits):
  """Lovasz-softmax (Berman et al., 2018) over the batch: for each class present in the
  labels, the Lovasz extension of the Jaccard loss applied to the pixels' errors, sorted
  largest first. On one-hot predictions it equals 1 - the mean IoU of those classes."""
  probabilities, one_hot = _labelled_probabilities(labels, logits)
  # Classes on the last axis -> one row per class; ignored pixels have error 0, sort last,
  # and add nothing.
  pixel_errors = tf.transpose(tf.abs(one_hot - probabilities))
  sorted_errors, order = tf.math.top_k(pixel_errors, k=tf.shape(pixel_errors)[1])
  truth = tf.gather(tf.transpose(one_hot), order, batch_dims=1)
  positives = tf.reduce_sum(truth, axis=1, keepdims=True)
  jaccard = 1 - tf.math.divide_no_nan(positives - tf.cumsum(truth, axis=1),
                                      positives + tf.cumsum(1 - truth, axis=1))
  gradient = tf.concat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=1)
  per_class = tf.reduce_sum(sorted_errors * tf.stop_gradient(gradient), axis=1)
  return _mean_over_present(per_class, one_hot)


# TrainingConfig.loss -> the term added to the cross-entropy.
LOSSES = dict(zip(recipe.LOSS_NAMES, (None, dice_loss, lovasz_softmax_loss)))


class SegmentationLoss(keras.losses.Loss):
  """Pixel-wise softmax cross-entropy on logits, weighted per class, skipping IGNORE_ID,
  plus an optional term that targets IoU (LOSSES).

  The mean is taken over the weights of the labelled pixels, so an image's ignored pixels
  neither add to the loss nor dilute it.
  """

  def __init__(self, class_weights, loss: str = 'cross_entropy', name='segmentation_loss'):
    super().__init__(name=name, reduction=keras.losses.Reduction.NONE)
    self._class_weights = tf.constant(class_weights, tf.float32)
    self._loss = loss

  def call(self, y_true, y_pred):
    labels = tf.cast(y_true, tf.int32)
    labelled = labels != IGNORE_ID
    labels = tf.where(labelled, labels, 0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.cast(y_pred, tf.float32))
    weights = tf.gather(self._class_weights, labels) * tf.cast(labelled, tf.float32)
    loss = tf.math.divide_no_nan(tf.reduce_sum(ce * weights), tf.reduce_sum(weights))
    region = LOSSES[self._loss]
    return loss + region(y_true, y_pred) if region else loss

  def get_config(self):
    return {'class_weights': self._class_weights.numpy().tolist(), 'loss': self._loss,
            'name': self.name}


def mean_iou(num_classes: int) -> keras.metrics.Metric:
  """Mean IoU of the argmax map over the classes present in label or prediction."""
  return keras.metrics.MeanIoU(num_classes, name='mean_iou', ignore_class=IGNORE_ID,
                               sparse_y_true=True, sparse_y_pred=False)


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up from 0 to `peak` over `warmup_steps`, then cosine decay to 0 at
  `total_steps`: a number, or a variable that TimeBudget moves while training runs."""

  def __init__(self, peak: float, warmup_steps: int, total_steps):
    self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    total = tf.maximum(tf.cast(self.total_steps, tf.float32), 1.0)
    warmup = self.peak * step / max(self.warmup_steps, 1)
    progress = (step - self.warmup_steps) / tf.maximum(total - self.warmup_steps, 1.0)
    cosine = 0.5 * self.peak * (1 + tf.cos(math.pi * tf.clip_by_value(progress, 0.0, 1.0)))
    return tf.where(step < self.warmup_steps, warmup, cosine)

  def get_config(self):
    return {'peak': self.peak, 'warmup_steps': self.warmup_steps,
            'total_steps': int(np.asarray(self.total_steps))}


class TimeBudget(keras.callbacks.Callback):
  """Ends training within `minutes`: after each epoch it fits the schedule's end
  (`total_steps`, for WarmupCosine) to the epochs that still fit, judged by the last
  epoch's time, and stops training when the next epoch would not fit. Time adds up over
  several fits (phases); `elapsed` is what Resume keeps across restarts.

  Must come before Resume among the callbacks (Resume saves whether training stopped).
  """

  def __init__(self, minutes: float, epochs: int, steps_per_epoch: int):
    super().__init__()
    self.seconds, self.epochs, self.steps_per_epoch = minutes * 60, epochs, steps_per_epoch
    self.total_steps = tf.Variable(epochs * steps_per_epoch, trainable=False, dtype=tf.int64,
                                   name='total_steps')
    self.elapsed = 0.0  # seconds of training before the current fit
    self.exhausted = False
    self._fit_start = self._last_epoch_end = None

  def on_train_begin(self, logs=None):
    self._fit_start = self._last_epoch_end = time.monotonic()

  def on_epoch_end(self, epoch, logs=None):
    now = time.monotonic()
    epoch_seconds, self._last_epoch_end = now - self._last_epoch_end, now
    left = self.seconds - (self.elapsed + now - self._fit_start)
    end = min(self.epochs, epoch + 1 + max(0, int(left // epoch_seconds)))
    self.total_steps.assign(end * self.steps_per_epoch)
    if epoch + 1 >= end and end < self.epochs:
      self.exhausted = self.model.stop_training = True
      logging.warning('Training stops after epoch %d of %d: the next would not end within '
                      'the budget of %.4g minutes', epoch + 1, self.epochs, self.seconds / 60)

  def spent(self) -> float:
    """Seconds of training so far, the current fit's included."""
    return self.elapsed + (time.monotonic() - self._fit_start if self._fit_start else 0.0)

  def state(self) -> Dict[str, Any]:
    """What Resume keeps: the time spent, the schedule's end, whether training stopped."""
    return {'elapsed': self.spent(), 'total_steps': int(self.total_steps.numpy()),
            'exhausted': self.exhausted}

  def restore(self, state: Dict[str, Any]) -> None:
    self.elapsed, self.exhausted = state['elapsed'], state['exhausted']
    self.total_steps.assign(state['total_steps'])

  def on_train_end(self, logs=None):
    self.elapsed, self._fit_start = self.spent(), None


_OPTIMIZERS = {'adam': keras.optimizers.Adam, 'adamw': keras.optimizers.AdamW,
               'rmsprop': keras.optimizers.RMSprop}


def optimizer(config: TrainingConfig, steps_per_epoch: int, total_steps=None,
              slow_variables: Sequence[tf.Variable] = ()) -> keras.optimizers.Optimizer:
  """The configured optimizer on a WarmupCosine schedule that ends at `total_steps`
  (default: after all epochs); `slow_variables` (a pretrained encoder's, while it is
  fine-tuned) learn at `encoder_learning_rate_scale` times the rate; with `ema_momentum`,
  it keeps a moving average of the weights (ValidateAveraged)."""
  schedule = WarmupCosine(config.learning_rate, round(config.warmup_epochs * steps_per_epoch),
                          config.epochs * steps_per_epoch if total_steps is None
                          else total_steps)
  kwargs = {'weight_decay': config.weight_decay} if config.optimizer == 'adamw' else {}
  if config.ema_momentum:
    kwargs.update(use_ema=True, ema_momentum=config.ema_momentum)
  base = _OPTIMIZERS[config.optimizer]
  if not slow_variables or config.encoder_learning_rate_scale == 1:
    return base(schedule, **kwargs)
  return _with_slow_variables(base)(schedule, slow_variables=slow_variables,
                                    scale=config.encoder_learning_rate_scale, **kwargs)


def _with_slow_variables(base: type) -> type:
  """`base` (a Keras optimizer) whose updates of some variables are scaled: the same as
  a learning rate `scale` times lower for them, whatever the optimizer's update rule
  (scaling Adam's gradients would change nothing: its steps do not depend on their scale)."""

  class SlowVariables(base):

    def __init__(self, *args, slow_variables: Sequence[tf.Variable], scale: float, **kwargs):
      super().__init__(*args, **kwargs)
      self._slow_keys = {self._var_key(v) for v in slow_variables}
      self._scale = scale

    def _update_step(self, gradient, variable):
      if self._var_key(variable) not in self._slow_keys:
        return super()._update_step(gradient, variable)
      before = tf.identity(variable)
      super()._update_step(gradient, variable)
      # TensorFlow orders the read after the update: both use the same variable.
      variable.assign(before + self._scale * (variable - before))

  SlowVariables.__name__ = base.__name__
  return SlowVariables


def median_frequency_weights(class_pixels, class_image_pixels) -> np.ndarray:
  """Eigen & Fergus: freq(c) = pixels of c / pixels of the images holding c;
  weight(c) = median(freq) / freq(c). Classes never seen get weight 1."""
  class_pixels = np.asarray(class_pixels, np.float64)
  seen = class_pixels > 0
  freq = np.where(seen, class_pixels / np.maximum(class_image_pixels, 1), 0.0)
  weights = np.ones_like(freq)
  weights[seen] = np.median(freq[seen]) / freq[seen]
  return weights.astype(np.float32)


class KeepBest(keras.callbacks.Callback):
  """Remembers the weights of the epoch with the highest `monitor`, across several fits,
  and stops a fit after `patience` epochs without a better one (Keras' EarlyStopping, per
  fit: set `wait` to 0 before each). `restore()` puts the best weights back. In memory, so
  that every worker of a multi-worker run holds them (a checkpoint file is written by the
  chief only); Resume keeps them on disk between attempts."""

  def __init__(self, monitor: str, patience: int):
    super().__init__()
    self.monitor, self.patience = monitor, patience
    self.best, self.best_epoch, self.wait = -math.inf, -1, 0
    self.best_weights = None

  def on_epoch_end(self, epoch, logs=None):
    value = (logs or {}).get(self.monitor)
    if value is not None and value > self.best:
      self.best, self.best_epoch, self.wait = value, epoch, 0
      self.best_weights = self.model.get_weights()
      return
    self.wait += 1
    if self.wait >= self.patience:
      self.model.stop_training = True

  def restore(self) -> None:
    if self.best_weights is not None:
      self.model.set_weights(self.best_weights)


class ValidateAveraged(keras.callbacks.Callback):
  """With an optimizer that keeps a moving average of the weights (`ema_momentum`):
  each epoch's validation runs on the averaged weights, and they stay in the model until
  this callback's on_epoch_end, so that KeepBest keeps them; then training goes on from the
  weights themselves. Keras' fit() ends by putting the averages in for good.

  Must come after KeepBest and before Resume among the callbacks (Resume saves the weights
  that training goes on from; the averages are in the optimizer's checkpoint).
  """

  def __init__(self):
    super().__init__()
    self._trained = None  # the weights themselves while the averages stand in

  def on_test_begin(self, logs=None):
    optimizer = self.model.optimizer
    if not getattr(optimizer, 'use_ema', False) or not getattr(optimizer, '_built', False):
      return
    variables = self.model.trainable_variables
    self._trained = [v.numpy() for v in variables]
    optimizer.finalize_variable_values(variables)

  def on_epoch_end(self, epoch, logs=None):
    if self._trained is not None:
      for variable, value in zip(self.model.trainable_variables, self._trained):
        variable.assign(value)
      self._trained = None


class Progress(keras.callbacks.Callback):
  """Says after each epoch how training goes, on core.progress (the console shows it):
  "epoch 3/30: loss 0.812, eval mean IoU 0.412, best 0.450, about 1.2 min left", the time
  judged by the last epoch's and capped by a TimeBudget. Comes after KeepBest among the
  callbacks."""

  def __init__(self, keep_best: KeepBest, epochs: int, budget: Optional[TimeBudget] = None):
    super().__init__()
    self.keep_best, self.epochs, self.budget = keep_best, epochs, budget
    self._epoch_start, self._first = 0.0, True

  def on_train_begin(self, logs=None):
    self._first = True  # a fit's first epoch also builds its graphs: no estimate from it

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch_start = time.monotonic()

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    line = (f'epoch {epoch + 1}/{self.epochs}: loss {logs.get("loss", math.nan):.3f}, eval '
            f'mean IoU {logs.get(self.keep_best.monitor, math.nan):.3f}, best '
            f'{self.keep_best.best:.3f}')
    if not self._first:
      left = (time.monotonic() - self._epoch_start) * (self.epochs - epoch - 1)
      if self.budget:
        left = min(left, max(0.0, self.budget.seconds - self.budget.spent()))
      line += f', about {left / 60:.1f} min left'
    self._first = False
    progress.LOGGER.info(line)


class Resume(keras.callbacks.Callback):
  """Keeps, at the end of every epoch, what training needs to go on after the process is
  killed: the weights and optimizer (a TF checkpoint), KeepBest's state and best weights,
  the CSV history, the time spent (TimeBudget), and which epoch of which phase (fit) was
  done. state.json is written last, atomically, and names the files of its epoch, so an
  interrupted save leaves the previous epoch's state whole.

  Must come after KeepBest, TimeBudget and the CSVLogger among the callbacks.
  """
  STATE = 'state.json'

  def __init__(self, directory: str, keep_best: KeepBest, history_csv: str,
               budget: Optional[TimeBudget] = None):
    super().__init__()
    self.directory, self.keep_best, self.history_csv = directory, keep_best, history_csv
    self.budget = budget
    self.phase = 0
    self._best_weights_file = None  # the saved best weights' file, once there are some

  def _path(self, name: str) -> str:
    return posixpath.join(self.directory, name)

  def saved(self) -> Optional[Dict[str, Any]]:
    """The last saved state, or None."""
    if not tf.io.gfile.exists(self._path(self.STATE)):
      return None
    with tf.io.gfile.GFile(self._path(self.STATE)) as f:
      return json.load(f)

  def restore(self, state: Dict[str, Any], optimizer: bool) -> None:
    """Puts the saved weights, KeepBest's state and the history back; the optimizer's
    state too when `optimizer` (training goes on in the same phase)."""
    if optimizer:
      self.model.optimizer.build(self.model.trainable_variables)
      tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer).read(
          self._path(state['checkpoint'])).assert_existing_objects_matched()
    else:
      tf.train.Checkpoint(model=self.model).read(
          self._path(state['checkpoint'])).expect_partial()
    self.restore_best(state)

  def restore_best(self, state: Dict[str, Any]) -> None:
    """Puts KeepBest's state and best weights, and the history, back."""
    keep_best = self.keep_best
    keep_best.best, keep_best.best_epoch, keep_best.wait = (state['best'], state['best_epoch'],
                                                            state['wait'])
    self._best_weights_file = state['best_weights']
    if state['best_weights']:
      with tf.io.gfile.GFile(self._path(state['best_weights']), 'rb') as f:
        saved = np.load(io.BytesIO(f.read()))
        keep_best.best_weights = [saved[f'w{i}'] for i in range(len(saved.files))]
    tf.io.gfile.copy(self._path(state['history']), self.history_csv, overwrite=True)

  def on_epoch_end(self, epoch, logs=None):
    checkpoint = f'epoch-{epoch}'
    tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer).write(
        self._path(checkpoint))
    if self.keep_best.best_epoch == epoch:
      buffer = io.BytesIO()
      np.savez(buffer, **{f'w{i}': w for i, w in enumerate(self.keep_best.best_weights)})
      with tf.io.gfile.GFile(self._path(f'best-{epoch}.npz'), 'wb') as f:
        f.write(buffer.getvalue())
      self._best_weights_file = f'best-{epoch}.npz'
    history = f'history-{epoch}.csv'
    tf.io.gfile.copy(self.history_csv, self._path(history), overwrite=True)
    state = {'phase': self.phase, 'epoch': epoch, 'stopped': bool(self.model.stop_training),
             'checkpoint': checkpoint, 'history': history, 'best': self.keep_best.best,
             'best_epoch': self.keep_best.best_epoch, 'wait': self.keep_best.wait,
             'best_weights': self._best_weights_file,
             'budget': self.budget.state() if self.budget else None}
    with tf.io.gfile.GFile(self._path(self.STATE + '.tmp'), 'w') as f:
      json.dump(state, f)
    tf.io.gfile.rename(self._path(self.STATE + '.tmp'), self._path(self.STATE), overwrite=True)
    kept = (f'{checkpoint}.', history, self._best_weights_file or self.STATE)
    for name in tf.io.gfile.listdir(self.directory):  # what the new state no longer names
      if name.startswith(('epoch-', 'best-', 'history-')) and not name.startswith(kept):
        path = self._path(name)  # a directory: a checkpoint's temp dir from a killed save
        (tf.io.gfile.rmtree if tf.io.gfile.isdir(path) else tf.io.gfile.remove)(path)
