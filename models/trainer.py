"""The Trainer's run_fn: the training recipe, step by step.

1. Read the configuration and seed everything.
2. Read TFT's statistics (channel mean/std, class pixel counts) from the records.
3. Build input pipelines: training repeats, shuffles and augments; eval is one clean pass.
4. Build the model (normalisation + the chosen network) under a strategy that fits the
   devices, with mixed precision on GPUs.
5. Fit, with the encoder frozen first when asked; keep the weights with the best eval
   mean IoU; stop early when it stalls; log to TensorBoard and a CSV of the curves.
6. Export the SavedModel with the Transform graph embedded and the class names beside it.
"""
import inspect
import os

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx import v1 as tfx

from petseg import errors
from petseg import labels as labels_lib
from petseg.models import blocks
from petseg.models import export
from petseg.models import features
from petseg.models import input_pipeline
from petseg.models import registry
from petseg.models import training

_STATS = (features.IMAGE_MEAN, features.IMAGE_STD, features.CLASS_PIXELS,
          features.CLASS_IMAGE_PIXELS)


def read_statistics(file_patterns, tf_transform_output: tft.TFTransformOutput) -> dict:
  """TFT's analyzer results, which every transformed record carries."""
  spec = {k: v for k, v in tf_transform_output.transformed_feature_spec().items()
          if k in _STATS}
  record = next(iter(input_pipeline.records(file_patterns).take(1)))
  return {k: v.numpy() for k, v in tf.io.parse_single_example(record, spec).items()}


def distribution_strategy() -> tf.distribute.Strategy:
  """Several GPUs: mirrored; any GPU: mixed precision; otherwise the default strategy."""
  gpus = tf.config.list_logical_devices('GPU')
  if gpus:
    keras.mixed_precision.set_global_policy('mixed_float16')
  if len(gpus) > 1:
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


def build_model(config: training.TrainingConfig, stats: dict) -> keras.Model:
  """Normalisation by TFT's statistics, then the network; takes 0..255 float images."""
  options = dict(config.model_options)
  if config.encoder_weights:
    if 'encoder_weights' not in inspect.signature(registry.get(config.model).build).parameters:
      raise errors.ConfigError(f'{config.model} has no pretrained encoder to load weights into')
    options['encoder_weights'] = config.encoder_weights
  net = registry.build(config.model, config.image_size, config.num_classes, **options)
  for layer in _all_layers(net):
    if isinstance(layer, keras.layers.BatchNormalization):
      layer.momentum = config.batchnorm_momentum
  inputs = keras.Input((config.image_size, config.image_size, 3), name='image')
  normalised = keras.layers.Normalization(
      mean=stats[features.IMAGE_MEAN], variance=np.square(stats[features.IMAGE_STD]))(inputs)
  return keras.Model(inputs, net(normalised), name=config.model)


def _all_layers(model: keras.Model):
  """Every layer, nested models' included (encoders are nested models)."""
  for layer in model.layers:
    yield layer
    if isinstance(layer, keras.Model):
      yield from _all_layers(layer)


def _compile(model, config, stats, steps_per_epoch):
  weights = (training.median_frequency_weights(stats[features.CLASS_PIXELS],
                                               stats[features.CLASS_IMAGE_PIXELS])
             if config.class_weights == 'median_frequency'
             else np.ones(config.num_classes, np.float32))
  model.compile(optimizer=training.optimizer(config, steps_per_epoch),
                loss=training.SegmentationLoss(weights),
                metrics=[training.mean_iou(config.num_classes)])


def _encoder(model: keras.Model):
  """The pretrainable encoder (a nested model), or None for models without one."""
  return next((layer for layer in _all_layers(model) if layer.name == blocks.ENCODER), None)


def training_phases(config: training.TrainingConfig, has_encoder: bool):
  """(first epoch, end epoch, encoder trainable) for each fit: frozen first, when asked."""
  if has_encoder and 0 < config.freeze_encoder_epochs < config.epochs:
    return [(0, config.freeze_encoder_epochs, False),
            (config.freeze_encoder_epochs, config.epochs, True)]
  return [(0, config.epochs, True)]


def run_fn(fn_args: tfx.components.FnArgs) -> None:
  custom_config = dict(fn_args.custom_config)
  labels = labels_lib.LabelSpec.from_json(custom_config.pop('labels'))
  config = training.TrainingConfig.from_json(custom_config)
  keras.utils.set_random_seed(config.seed)
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  stats = read_statistics(fn_args.train_files, tf_transform_output)

  strategy = distribution_strategy()
  batch_size = config.batch_size * strategy.num_replicas_in_sync
  steps_per_epoch = max(1, input_pipeline.count(fn_args.train_files) // batch_size)
  train = input_pipeline.dataset(fn_args.train_files, config, batch_size, training_split=True)
  evaluation = input_pipeline.dataset(fn_args.eval_files, config, batch_size,
                                      training_split=False)
  with strategy.scope():
    model = build_model(config, stats)

  best = os.path.join(fn_args.model_run_dir, 'best', 'weights')
  callbacks = [
      keras.callbacks.TensorBoard(fn_args.model_run_dir),
      keras.callbacks.CSVLogger(os.path.join(fn_args.model_run_dir, 'history.csv'),
                                append=True),
      keras.callbacks.ModelCheckpoint(best, monitor='val_mean_iou', mode='max',
                                      save_best_only=True, save_weights_only=True),
      keras.callbacks.EarlyStopping(monitor='val_mean_iou', mode='max',
                                    patience=config.early_stopping_patience),
  ]
  encoder = _encoder(model)
  for first_epoch, last_epoch, encoder_trainable in training_phases(config, encoder is not None):
    if encoder is not None:
      # Trainability takes effect at compile time in Keras 2, hence one compile per phase.
      encoder.trainable = encoder_trainable
    with strategy.scope():
      _compile(model, config, stats, steps_per_epoch)
    model.fit(train, steps_per_epoch=steps_per_epoch, validation_data=evaluation,
              initial_epoch=first_epoch, epochs=last_epoch, callbacks=callbacks, verbose=2)
  model.load_weights(best)
  logging.info('Best eval mean IoU restored from %s', best)
  export.save(model, tf_transform_output, config.image_size, labels,
              fn_args.serving_model_dir)
