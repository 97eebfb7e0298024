"""The training recipe's parts: loss, schedule, class weights, augmentation, input, TFT."""
import dataclasses
import os
import re
import tempfile
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import schema_utils
import tf_keras as keras

from petseg.components.example_gen import sources
from petseg.core import config as config_lib
from petseg.core import errors
from petseg.core import features
from petseg.core.labels import IGNORE_ID
from petseg.models import input_pipeline
from petseg.models import module_file
from petseg.models import preprocessing
from petseg.models import training
from tests.helpers import encode

STATISTICS = {features.IMAGE_MEAN: np.array([120., 110., 100.], np.float32),
              features.IMAGE_STD: np.array([50., 50., 50.], np.float32)}

# Loss.

def _logits(seed=0, shape=(2, 4, 4, 3)):
  return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float32)


def test_loss_ignores_the_ignore_id():
  labels = np.random.default_rng(1).integers(0, 3, (2, 4, 4)).astype(np.uint8)
  labels[:, :2] = IGNORE_ID
  loss = training.SegmentationLoss(np.ones(3, np.float32))
  logits = _logits()
  changed = logits.numpy()
  changed[:, :2] = 100 * np.random.default_rng(2).normal(size=changed[:, :2].shape)
  assert float(loss(labels, logits)) == pytest.approx(float(loss(labels, changed)))
  # And it equals the plain mean cross-entropy over the labelled pixels.
  labelled = labels != IGNORE_ID
  expected = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels[labelled].astype(np.int32), logits.numpy()[labelled])
  assert float(loss(labels, logits)) == pytest.approx(float(tf.reduce_mean(expected)), 1e-5)


def test_class_weights_weigh_the_mean():
  labels = np.zeros((1, 2, 2), np.uint8)
  labels[0, 0, 0] = 1
  logits = _logits(shape=(1, 2, 2, 2))
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels.astype(np.int32), logits).numpy()
  weighted = training.SegmentationLoss(np.array([1.0, 3.0], np.float32))(labels, logits)
  expected = (ce[0, 0, 0] * 3 + ce[0, 0, 1] + ce[0, 1, 0] + ce[0, 1, 1]) / 6
  assert float(weighted) == pytest.approx(float(expected), 1e-5)


def test_an_all_ignored_batch_has_zero_loss():
  labels = np.full((1, 2, 2), IGNORE_ID, np.uint8)
  assert float(training.SegmentationLoss(np.ones(3, np.float32))(labels, _logits(
      shape=(1, 2, 2, 3)))) == 0.0


def test_mean_iou_skips_the_ignore_id_and_absent_classes():
  metric = training.mean_iou(3)
  labels = np.array([[[0, 0, 1, IGNORE_ID]]], np.uint8)
  logits = np.zeros((1, 1, 4, 3), np.float32)
  logits[0, 0, [0, 1, 2, 3], [0, 1, 1, 2]] = 5  # predictions 0, 1, 1, 2
  metric.update_state(labels, logits)
  # class 0: 1/2, class 1: 1/2, class 2: absent from labels and (unignored) predictions.
  assert float(metric.result()) == pytest.approx(0.5)


# Schedule, optimizer, class weights, configuration.

def test_warmup_then_cosine():
  schedule = training.WarmupCosine(1e-3, warmup_steps=10, total_steps=110)
  assert float(schedule(0)) == 0.0
  assert float(schedule(5)) == pytest.approx(5e-4)
  assert float(schedule(10)) == pytest.approx(1e-3)
  assert float(schedule(60)) == pytest.approx(5e-4)
  assert float(schedule(110)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize('name, cls', [('adam', 'Adam'), ('adamw', 'AdamW'),
                                       ('rmsprop', 'RMSprop')])
def test_optimizers(name, cls):
  config = training.TrainingConfig(optimizer=name, epochs=4)
  optimizer = training.optimizer(config, steps_per_epoch=10)
  assert type(optimizer).__name__ == cls
  schedule = optimizer._learning_rate  # pylint: disable=protected-access
  assert isinstance(schedule, training.WarmupCosine) and schedule.total_steps == 40


def test_median_frequency_weights():
  # class 0: freq 500/1000 = 0.5; class 1: 125/500 = 0.25; median 0.375; class 2 unseen.
  weights = training.median_frequency_weights([500, 125, 0], [1000, 500, 0])
  np.testing.assert_allclose(weights, [0.375 / 0.5, 0.375 / 0.25, 1.0])


def test_config_refuses_unknown_settings():
  with pytest.raises(errors.ConfigError, match=r"unknown training settings \['epoch'\]"):
    training.TrainingConfig.from_json({'epoch': 3})
  with pytest.raises(errors.ConfigError, match='optimizer must be'):
    training.TrainingConfig(optimizer='sgd')


def _one_hot_logits(predicted, num_classes):
  """Logits whose softmax is (almost exactly) one-hot on `predicted`."""
  return tf.constant(np.eye(num_classes, dtype=np.float32)[predicted] * 50)


def _mean_iou_and_dice(truth, predicted, num_classes):
  """NumPy, over the classes present in `truth`, IGNORE_ID skipped."""
  labelled = truth != IGNORE_ID
  ious, dices = [], []
  for c in np.unique(truth[labelled]):
    t, p = (truth == c) & labelled, (predicted == c) & labelled
    ious.append((t & p).sum() / (t | p).sum())
    dices.append(2 * (t & p).sum() / (t.sum() + p.sum()))
  return np.mean(ious), np.mean(dices)


def test_lovasz_and_dice_on_hand_made_masks():
  truth = np.array([[[0, 0, 1, 1], [2, 2, 2, IGNORE_ID]]], np.uint8)
  predicted = np.array([[[0, 1, 1, 1], [2, 2, 0, 1]]])
  logits = _one_hot_logits(predicted, 3)
  mean_iou, mean_dice = _mean_iou_and_dice(truth, predicted, 3)
  # pixel (1, 3) is ignored: its wrong prediction costs nothing.
  assert mean_iou == pytest.approx((1 / 3 + 2 / 3 + 2 / 3) / 3)
  # On one-hot predictions Lovasz-softmax is exactly 1 - mean IoU, and soft Dice 1 - Dice.
  assert float(training.lovasz_softmax_loss(truth, logits)) == pytest.approx(1 - mean_iou,
                                                                            abs=1e-5)
  assert float(training.dice_loss(truth, logits)) == pytest.approx(1 - mean_dice, abs=1e-5)
  right = _one_hot_logits(np.where(truth == IGNORE_ID, 0, truth), 3)
  for loss in (training.lovasz_softmax_loss, training.dice_loss):
    assert float(loss(truth, right)) == pytest.approx(0, abs=1e-5)
    assert float(loss(np.full_like(truth, IGNORE_ID), logits)) == 0  # nothing labelled


@pytest.mark.parametrize('name', ['cross_entropy+dice', 'cross_entropy+lovasz'])
def test_the_iou_terms_add_to_the_cross_entropy_and_have_gradients(name):
  labels = np.random.default_rng(2).integers(0, 3, (2, 4, 4)).astype(np.uint8)
  labels[0, 0] = IGNORE_ID
  logits = tf.Variable(_logits())
  plain = training.SegmentationLoss(np.ones(3, np.float32))(labels, logits)
  with tf.GradientTape() as tape:
    combined = training.SegmentationLoss(np.ones(3, np.float32), name)(labels, logits)
  term = training.LOSSES[name](labels, logits)
  assert float(combined) == pytest.approx(float(plain + term), rel=1e-6) and float(term) > 0
  gradient = tape.gradient(combined, logits).numpy()
  assert np.all(np.isfinite(gradient)) and np.abs(gradient).sum() > 0
  assert np.all(gradient[0, 0] == 0)  # the ignored pixels get none


def test_a_time_budget_fits_the_schedule_and_stops_within_it():
  """Epochs of ~0.5 s under a 3 s budget: the schedule ends where training does."""
  model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
  budget = training.TimeBudget(minutes=0.05, epochs=20, steps_per_epoch=2)
  config = training.TrainingConfig(epochs=20, warmup_epochs=0)
  model.compile(optimizer=training.optimizer(config, 2, budget.total_steps), loss='mse')
  data = dict(x=np.zeros((4, 1)), y=np.zeros((4, 1)), batch_size=2, verbose=0)
  model.fit(**data, epochs=1)  # a process's first fit takes seconds to set TensorFlow up
  model.optimizer.iterations.assign(0)
  slow = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: time.sleep(0.5))
  history = model.fit(**data, epochs=20, callbacks=[slow, budget])
  trained = len(history.history['loss'])
  assert 2 <= trained < 7 and budget.exhausted and model.stop_training
  assert budget.spent() <= 3 + 0.1
  assert int(budget.total_steps.numpy()) == trained * 2  # the cosine ends at the last epoch
  # Its last step's rate: near zero (with the 20 epochs planned it would be 0.85 * peak).
  assert float(model.optimizer.learning_rate) < 0.05 * config.learning_rate
  state = budget.state()
  resumed = training.TimeBudget(minutes=0.05, epochs=20, steps_per_epoch=2)
  resumed.restore(state)
  assert resumed.exhausted and resumed.elapsed == state['elapsed']


# Augmentation and input.

def _pattern(size=32):
  """A mask of blocks, and an image whose red channel spells the mask out."""
  mask = np.zeros((size, size), np.uint8)
  mask[4:20, 6:14] = 1
  mask[22:30, 2:30] = 2
  mask[0:3, 20:32] = IGNORE_ID
  image = np.zeros((size, size, 3), np.uint8)
  image[..., 0] = np.where(mask == IGNORE_ID, 250, mask * 80)
  image[..., 1] = np.arange(size)[None, :] * 7  # a gradient, so a flip is visible
  return image, mask


def _mask_from_red(image):
  red = np.asarray(image)[..., 0]
  return np.where(red > 200, IGNORE_ID, np.round(red / 80)).astype(np.uint8)


@pytest.mark.parametrize('seed', range(6))
def test_flip_keeps_image_and_mask_aligned_exactly(seed):
  image, mask = _pattern()
  config = training.TrainingConfig(image_size=32, max_scale=1.0, colour_jitter=0.0)
  out_image, out_mask = input_pipeline.augment(image, mask, tf.constant([seed, 1]), config)
  np.testing.assert_array_equal(_mask_from_red(out_image), out_mask.numpy())


def test_flip_happens_for_some_seeds():
  image, mask = _pattern()
  config = training.TrainingConfig(image_size=32, max_scale=1.0, colour_jitter=0.0)
  flipped = [not np.array_equal(input_pipeline.augment(image, mask, tf.constant([s, 1]),
                                                       config)[1].numpy(), mask)
             for s in range(8)]
  assert any(flipped) and not all(flipped)


@pytest.mark.parametrize('seed', range(6))
def test_zoom_and_crop_keep_image_and_mask_aligned(seed):
  image, mask = _pattern()
  config = training.TrainingConfig(image_size=32, max_scale=1.8, colour_jitter=0.0)
  out_image, out_mask = input_pipeline.augment(image, mask, tf.constant([seed, 7]), config)
  derived = _mask_from_red(tf.cast(tf.round(out_image), tf.uint8))
  # Bilinear interpolation blurs the image at block edges; everywhere else they agree.
  assert np.mean(derived == out_mask.numpy()) > 0.9
  assert set(np.unique(out_mask)) <= {0, 1, 2, IGNORE_ID}


@pytest.mark.parametrize('seed', range(4))
def test_crops_of_a_zoomed_out_rectangle_pad_the_mask_with_ignore(seed):
  image, mask = _pattern()
  config = training.TrainingConfig(image_size='32x48', crop_size=32, min_scale=0.5,
                                   max_scale=1.0, colour_jitter=0.0)
  image, mask = np.concatenate([image, image[:, :16]], 1), np.concatenate([mask, mask[:, :16]], 1)
  out_image, out_mask = input_pipeline.augment(image, mask, tf.constant([seed, 2]), config)
  assert out_image.shape == (32, 32, 3) and out_mask.shape == (32, 32)
  derived = _mask_from_red(tf.cast(tf.round(out_image), tf.uint8))
  labelled = out_mask.numpy() != IGNORE_ID
  assert np.mean(derived[labelled] == out_mask.numpy()[labelled]) > 0.85
  padded = np.all(out_image.numpy() == 0, axis=-1) & (out_mask.numpy() == IGNORE_ID)
  assert padded.any() or seed  # zoomed out below the crop: the rest is ignored padding
  assert set(np.unique(out_mask)) <= {0, 1, 2, IGNORE_ID}


def test_colour_jitter_leaves_the_mask_alone():
  image, mask = _pattern()
  config = training.TrainingConfig(image_size=32, flip=False, max_scale=1.0,
                                   colour_jitter=0.3)
  out_image, out_mask = input_pipeline.augment(image, mask, tf.constant([3, 3]), config)
  np.testing.assert_array_equal(out_mask.numpy(), mask)
  assert not np.allclose(out_image.numpy(), image)


def _write_transformed(path, n, size=16):
  rng = np.random.default_rng(0)
  with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type='GZIP')) as writer:
    for _ in range(n):
      image = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
      mask = rng.integers(0, 3, (size, size)).astype(np.uint8)
      example = tf.train.Example(features=tf.train.Features(feature={
          key: tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[tf.io.serialize_tensor(value).numpy()]))
          for key, value in ((features.IMAGE, image), (features.MASK, mask))}))
      writer.write(example.SerializeToString())


def test_input_pipeline_is_reproducible(tmp_path):
  path = str(tmp_path / 'part.gz')
  _write_transformed(path, 10)
  config = training.TrainingConfig(image_size=16, seed=5)
  take = lambda: [(i.numpy(), m.numpy()) for i, m in  # noqa: E731
                  input_pipeline.dataset([path], config, 4, training_split=True).take(3)]
  first, second = take(), take()
  assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
             for a, b in zip(first, second))
  images, masks = first[0]
  assert images.shape == (4, 16, 16, 3) and images.dtype == np.float32
  assert masks.shape == (4, 16, 16) and masks.dtype == np.uint8
  evaluation = list(input_pipeline.dataset([path], config, 4, training_split=False))
  assert [len(m) for _, m in evaluation] == [4, 4, 2]
  assert input_pipeline.count([path]) == 10


def test_a_split_over_the_memory_budget_streams_the_same_batches(tmp_path, monkeypatch):
  path = str(tmp_path / 'part.gz')
  _write_transformed(path, 10)
  config = training.TrainingConfig(image_size=16, seed=5)
  # 10 parsed 16x16 examples (image and mask) are 10 KiB: one byte less does not fit.
  assert input_pipeline.cached_in_memory(10, (16, 16))
  batches = lambda examples: [  # noqa: E731
      (i.numpy(), m.numpy()) for i, m in input_pipeline.dataset(
          [path], config, 4, training_split=True, examples=examples).take(6)]
  cached = batches(10)
  monkeypatch.setattr(input_pipeline, 'MEMORY_CACHE_BYTES', 10 * 16 * 16 * 4 - 1)
  assert not input_pipeline.cached_in_memory(10, (16, 16))
  streamed = batches(10)
  assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
             for a, b in zip(cached, streamed))


# Transform's preprocessing_fn, through TFT on Beam.

def test_preprocessing_fn_resizes_and_analyzes():
  rng = np.random.default_rng(3)
  images = [rng.integers(0, 256, (h, w, 3)).astype(np.uint8) for h, w in ((20, 30), (40, 10))]
  masks = [np.zeros((20, 30), np.uint8), np.full((40, 10), 2, np.uint8)]
  masks[0][:, :15] = 1
  masks[1][:4] = IGNORE_ID
  raw = [{'image': [encode(i, 'PNG')], 'mask': [encode(m, 'PNG')]}
         for i, m in zip(images, masks)]
  metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec({
      'image': tf.io.FixedLenFeature([1], tf.string),
      'mask': tf.io.FixedLenFeature([1], tf.string)}))
  config = {'image_size': [8, 8], 'num_classes': 3}
  with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp):
    (transformed, _), _ = ((raw, metadata) | tft_beam.AnalyzeAndTransformDataset(
        lambda inputs: preprocessing.preprocessing_fn(inputs, config)))
  first = transformed[0]
  image = tf.io.parse_tensor(first[features.IMAGE], tf.uint8).numpy()
  mask = tf.io.parse_tensor(first[features.MASK], tf.uint8).numpy()
  assert image.shape == (8, 8, 3) and mask.shape == (8, 8)
  assert set(np.unique(mask)) == {0, 1}  # nearest neighbour: no invented class ids
  resized = [tf.image.resize(i, [8, 8], antialias=True).numpy() for i in images]
  np.testing.assert_allclose(first[features.IMAGE_MEAN],
                             np.mean([r.mean(axis=(0, 1)) for r in resized], axis=0), atol=0.5)
  # Class pixels at 8x8: image 1 has 32 of class 0 and 32 of class 1; image 2 has class 2
  # except the ignored top rows, which are not counted.
  second_mask = tf.io.parse_tensor(transformed[1][features.MASK], tf.uint8).numpy()
  ignored = int(np.sum(second_mask == IGNORE_ID))
  assert ignored > 0
  np.testing.assert_array_equal(first[features.CLASS_PIXELS], [32, 32, 64 - ignored])
  np.testing.assert_array_equal(first[features.CLASS_IMAGE_PIXELS], [64, 64, 64 - ignored])


def test_keep_best_restores_the_best_epoch_across_fits():
  model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
  keep = training.KeepBest('val_mean_iou', patience=2)
  keep.set_model(model)
  for epoch, (score, weight) in enumerate([(0.2, 1.0), (0.5, 2.0), (0.4, 3.0)]):
    model.layers[0].kernel.assign([[weight]])
    keep.on_epoch_end(epoch, {'val_mean_iou': score})
  assert not model.stop_training
  keep.on_epoch_end(3, {})  # an epoch without the metric changes nothing but the patience
  assert model.stop_training  # two epochs without a better one
  keep.restore()
  assert model.layers[0].kernel.numpy().tolist() == [[2.0]] and keep.best == 0.5


class _WeightsEachEpoch(keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.weights = []

  def on_epoch_end(self, epoch, logs=None):
    self.weights.append(self.model.get_weights())


def test_an_averaged_training_validates_and_keeps_the_averages_and_trains_on():
  """ema_momentum: each epoch validates the averaged weights, KeepBest keeps those, and
  training goes on from the weights themselves, as a training without the average does."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(64, 4)).astype(np.float32)
  y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32)

  def fit(ema_momentum, callbacks):
    config = training.TrainingConfig(epochs=3, warmup_epochs=0, learning_rate=0.05,
                                     ema_momentum=ema_momentum)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.set_weights([np.full((4, 1), 0.1, np.float32), np.zeros(1, np.float32)])
    model.compile(optimizer=training.optimizer(config, steps_per_epoch=4), loss='mse')
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                        validation_data=(x, y), callbacks=callbacks)
    return model, history.history['val_loss']

  keep = training.KeepBest('val_loss', patience=5)  # the highest; any epoch checks as well
  validated, trained_on, plain = _WeightsEachEpoch(), _WeightsEachEpoch(), _WeightsEachEpoch()
  model, losses = fit(0.5, [keep, validated, training.ValidateAveraged(), trained_on])
  _, plain_losses = fit(0.0, [plain])

  def loss_of(weights):
    model.set_weights(weights)
    return model.evaluate(x, y, batch_size=16, verbose=0)

  # The end of fit() leaves the averages in the model: the last epoch's validated weights.
  np.testing.assert_allclose(model.get_weights()[0], validated.weights[-1][0])
  assert [loss_of(w) for w in validated.weights] == pytest.approx(losses, rel=1e-5)
  for ours, theirs in zip(trained_on.weights, plain.weights):  # the same steps
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
  assert not np.allclose(validated.weights[0][0], trained_on.weights[0][0])
  assert losses != pytest.approx(plain_losses, rel=1e-3)
  for kept, got in zip(keep.best_weights, validated.weights[keep.best_epoch]):
    np.testing.assert_array_equal(kept, got)


def test_a_resumed_averaged_training_gets_its_averages_back(tmp_path):
  config = training.TrainingConfig(epochs=2, warmup_epochs=0, ema_momentum=0.9)
  x = np.random.default_rng(1).normal(size=(16, 1)).astype(np.float32)

  def compiled():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=training.optimizer(config, steps_per_epoch=2), loss='mse')
    return model

  def resume_of(model):
    keep = training.KeepBest('val_loss', patience=5)
    resume = training.Resume(str(tmp_path / 'resume'), keep, str(tmp_path / 'history.csv'))
    (tmp_path / 'resume').mkdir(exist_ok=True)
    for callback in (keep, resume):
      callback.set_model(model)
    return keep, resume

  model = compiled()
  keep, resume = resume_of(model)
  model.fit(x, 2 * x, batch_size=8, epochs=2, verbose=0, validation_data=(x, 2 * x),
            callbacks=[keep, training.ValidateAveraged(),
                       keras.callbacks.CSVLogger(str(tmp_path / 'history.csv')), resume])
  averages = model.optimizer._model_variables_moving_average  # pylint: disable=protected-access
  again = compiled()
  _, resumed = resume_of(again)
  resumed.restore(resumed.saved(), optimizer=True)
  for ours, theirs in zip(again.optimizer._model_variables_moving_average, averages):  # pylint: disable=protected-access
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
  assert int(again.optimizer.iterations) == 4


def test_a_resumed_training_starts_each_phase_where_the_saved_state_says():
  frozen_first = [(0, 3, False), (3, 8, True)]
  start = lambda state, phase: module_file.resumed_start(state, phase, frozen_first[phase][0])  # noqa: E731
  assert [start(None, p) for p in (0, 1)] == [0, 3]
  in_first = {'phase': 0, 'epoch': 1, 'stopped': False}
  assert [start(in_first, p) for p in (0, 1)] == [2, 3]
  stopped_early = {'phase': 0, 'epoch': 1, 'stopped': True}
  assert [start(stopped_early, p) for p in (0, 1)] == [None, 3]
  in_second = {'phase': 1, 'epoch': 4, 'stopped': False}
  assert [start(in_second, p) for p in (0, 1)] == [None, 5]


def test_resume_saves_over_what_a_killed_save_left(tmp_path):
  model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
  model.compile(optimizer='sgd', loss='mse')
  keep = training.KeepBest('val_mean_iou', patience=5)
  history = tmp_path / 'history.csv'
  history.write_text('epoch,val_mean_iou\n0,0.5\n')
  resume_dir = tmp_path / 'resume'
  resume = training.Resume(str(resume_dir), keep, str(history))
  for callback in (keep, resume):
    callback.set_model(model)
  keep.on_epoch_end(0, {'val_mean_iou': 0.5})
  resume.on_epoch_end(0)
  # A kill during epoch 1's save: TF's checkpoint temp directory with a shard TF was still
  # writing under a temporary name (which TF's next save of epoch 1 leaves there).
  (resume_dir / 'epoch-1_temp').mkdir()
  shard = 'part-00000-of-00001.data-00000-of-00001.tempstate1'
  (resume_dir / 'epoch-1_temp' / shard).write_bytes(b'x')
  (resume_dir / 'history-1.csv').write_text('epo')
  assert resume.saved()['epoch'] == 0  # the previous epoch's state is whole

  keep.on_epoch_end(1, {'val_mean_iou': 0.4})
  resume.on_epoch_end(1)
  state = resume.saved()
  assert (state['epoch'], state['best_epoch'], state['best_weights']) == (1, 0, 'best-0.npz')
  assert sorted(os.listdir(resume_dir)) == sorted(
      ['state.json', 'best-0.npz', 'history-1.csv', 'epoch-1.index',
       'epoch-1.data-00000-of-00001'])


@pytest.mark.parametrize('name, dataset', [
    ('oxford_pets', 'oxford_pets'), ('camvid', 'camvid'),
    ('oxford_pets_pretrained', 'oxford_pets'), ('camvid_pretrained', 'camvid')])
def test_the_shipped_recipes_are_valid_and_leave_their_figures_to_the_benchmarks(name, dataset):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  settings = config_lib.load_settings(os.path.join(root, 'recipes', f'{name}.json'))
  training_settings = settings.pop('training')
  labels = sources.dataset_config(dataset, root, settings).labels
  config = training.TrainingConfig.from_json({**training_settings,
                                              'num_classes': labels.num_classes})
  assert config.max_train_minutes and config.recipe.startswith(f'{name}: ')
  # A run prints the recipe line: figures measured elsewhere would pass for the run's.
  assert not re.search(r'img/s|mean IoU|0\.\d\d\d', config.recipe), config.recipe
  # Built as the Trainer would, ImageNet weights aside (none can be downloaded here).
  module_file.build_model(dataclasses.replace(config, encoder_weights=None), STATISTICS)
  with open(os.path.join(root, 'docs', 'benchmarks.md')) as f:
    assert f'| `recipes/{name}.json` |' in f.read()  # its reference figures
