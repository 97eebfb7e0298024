"""The Trainer's run_fn: the training recipe, step by step.

1. Read the configuration, pick a strategy that fits the hardware, seed everything.
2. Read TFT's statistics (channel mean/std, class pixel counts) from the records.
3. Build input pipelines: training repeats, shuffles and augments; eval is one clean pass.
4. Build the model (normalisation + the chosen network) under that strategy, with mixed
   precision on GPUs; the batch size is per replica, so the global batch grows with them.
5. Fit, with the encoder frozen first when asked (a pretrained one is then fine-tuned at
   a lower learning rate); keep the weights with the best eval mean IoU; stop early when
   it stalls; log to TensorBoard and a CSV of the curves.
6. Export the SavedModel with the Transform graph embedded and the class names beside it.
"""
import hashlib
import inspect
import json
import os
import shutil
import tempfile
from typing import Any, Dict, Optional

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer import fn_args_utils

from petseg.core import errors
from petseg.core import features
from petseg.core import labels as labels_lib
from petseg.core import progress
from petseg.models import blocks
from petseg.models import export
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


def keras_as_written() -> None:
  """Lets TensorFlow trace Keras 2 (tf_keras) as it is written, as it always did.

  AutoGraph rewrites every function a tf.function calls unless a rule names its package.
  Keras 2 is written to run in graphs unconverted, and TensorFlow's rules skip
  `tensorflow` and `keras`, where it used to live; TF 2.16's do not name `tf_keras`, where
  it lives now, so each Keras call in the train, test and serving functions was rewritten
  at its first trace, most of the first step's time (docs/benchmarks.md). The rules are
  TensorFlow's private table: if it is gone, nothing is changed.
  """
  try:
    from tensorflow.python.autograph.core import config  # pylint: disable=g-import-not-at-top
  except ImportError:
    return
  rules = getattr(config, 'CONVERSION_RULES', None)
  if not isinstance(rules, tuple) or not hasattr(config, 'DoNotConvert'):
    return
  if not any(isinstance(rule, config.DoNotConvert) and rule.matches('tf_keras.engine')
             for rule in rules):
    config.CONVERSION_RULES = (config.DoNotConvert('tf_keras'),) + rules


def distribution_strategy() -> tf.distribute.Strategy:
  """Several workers (a TF_CONFIG cluster): multi-worker mirrored; several GPUs:
  mirrored; any GPU: mixed precision; otherwise the default strategy.

  Must run before any other TensorFlow op: collective ops are set up at start-up.
  """
  cluster = json.loads(os.environ.get('TF_CONFIG', '{}')).get('cluster', {})
  if sum(len(tasks) for role, tasks in cluster.items() if role in ('chief', 'worker')) > 1:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
  else:
    strategy = None
  gpus = tf.config.list_logical_devices('GPU')
  if gpus:
    keras.mixed_precision.set_global_policy('mixed_float16')
  if strategy is None:
    strategy = (tf.distribute.MirroredStrategy() if len(gpus) > 1
                else tf.distribute.get_strategy())
  return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the run's outputs (the others write to scratch)."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return True
  has_chief = 'chief' in resolver.cluster_spec().as_dict()
  return (resolver.task_type == 'chief' or
          (not has_chief and resolver.task_type == 'worker' and resolver.task_id == 0))


def _shard_by_example(ds: tf.data.Dataset) -> tf.data.Dataset:
  """Workers split the examples, not the files: a split may be a single file."""
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return ds.with_options(options)


def build_model(config: training.TrainingConfig, stats: dict) -> keras.Model:
  """Normalisation by TFT's statistics (with pretrained encoder weights: the input those
  weights expect), then the network; takes 0..255 float images of any size (at least the
  stride), padded to the stride and the logits cropped back."""
  options = dict(config.model_options)
  if config.encoder_weights:
    if 'encoder_weights' not in inspect.signature(registry.get(config.model).build).parameters:
      raise errors.ConfigError(f'{config.model} has no pretrained encoder to load weights into')
    options['encoder_weights'] = config.encoder_weights
  net = registry.build(config.model, config.num_classes, **options)
  for layer in _all_layers(net):
    if isinstance(layer, keras.layers.BatchNormalization):
      layer.momentum = config.batchnorm_momentum
  inputs = keras.Input((None, None, 3), name='image')
  if config.encoder_weights:  # the input the pretrained weights were trained on
    normalised = blocks.ImagenetPreprocessing(_encoder(net).preprocessing)(inputs)
  else:
    normalised = keras.layers.Normalization(
        mean=stats[features.IMAGE_MEAN], variance=np.square(stats[features.IMAGE_STD]))(inputs)
  padded = blocks.PadToMultiple(registry.get(config.model).stride)(normalised)
  return keras.Model(inputs, blocks.CropLike()([net(padded), inputs]), name=config.model)


def _all_layers(model: keras.Model):
  """Every layer, nested models' included (encoders are nested models)."""
  for layer in model.layers:
    yield layer
    if isinstance(layer, keras.Model):
      yield from _all_layers(layer)


def _compile(model, config, stats, steps_per_epoch, total_steps, slow_variables=()):
  weights = (training.median_frequency_weights(stats[features.CLASS_PIXELS],
                                               stats[features.CLASS_IMAGE_PIXELS])
             if config.class_weights == 'median_frequency'
             else np.ones(config.num_classes, np.float32))
  model.compile(optimizer=training.optimizer(config, steps_per_epoch, total_steps,
                                             slow_variables),
                loss=training.SegmentationLoss(weights, config.loss),
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


def resumed_start(state: Optional[Dict[str, Any]], phase: int, first_epoch: int
                  ) -> Optional[int]:
  """The epoch a phase (fit) starts at after a restart with the saved `state` (Resume):
  its first, the one after the last done, or None when it was done or stopped early."""
  if not state or state['phase'] < phase:
    return first_epoch
  if state['phase'] > phase or state['stopped']:
    return None
  return state['epoch'] + 1


def resume_directory(resume_root: str, fn_args: fn_args_utils.FnArgs) -> str:
  """Where this training keeps what it needs to resume: under `resume_root`, named by a
  digest of everything it depends on (its settings, data and transform graph), so that
  only a re-run of the same training picks it up."""
  inputs = json.dumps([fn_args.custom_config, sorted(fn_args.train_files),
                       sorted(fn_args.eval_files), fn_args.transform_output], sort_keys=True)
  return os.path.join(resume_root, hashlib.sha256(inputs.encode()).hexdigest()[:16])


def run_fn(fn_args: fn_args_utils.FnArgs) -> None:
  """TFX's Trainer calls this by name (pipeline.RUN_FN) with the run's FnArgs.

  custom_config holds the TrainingConfig, the labels and, where runs can resume,
  `resume_dir`. Trains the registry's model on the transformed train split (in phases when
  its encoder starts frozen), keeps the weights of the epoch with the best eval mean IoU,
  and exports them with the transform graph as the serving model (models/export.py);
  writes the config, history.csv and TensorBoard logs to the model_run directory.
  """
  keras_as_written()
  strategy = distribution_strategy()
  custom_config = dict(fn_args.custom_config)
  labels = labels_lib.LabelSpec.from_json(custom_config.pop('labels'))
  resume_root = custom_config.pop(training.RESUME_DIR_KEY, None)
  config = training.TrainingConfig.from_json(custom_config)
  keras.utils.set_random_seed(config.seed)
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  stats = read_statistics(fn_args.train_files, tf_transform_output)

  batch_size = config.batch_size * strategy.num_replicas_in_sync
  logging.info('%d replicas in sync, global batch %d', strategy.num_replicas_in_sync,
               batch_size)
  train_examples = input_pipeline.count(fn_args.train_files)
  steps_per_epoch = max(1, train_examples // batch_size)
  evaluation = _shard_by_example(input_pipeline.dataset(
      fn_args.eval_files, config, batch_size, training_split=False,
      examples=input_pipeline.count(fn_args.eval_files)))
  with strategy.scope():
    model = build_model(config, stats)

  # Every worker saves (saving is a collective step); only the chief into the run's dirs.
  if is_chief(strategy):
    run_dir, serving_dir = fn_args.model_run_dir, fn_args.serving_model_dir
  else:
    scratch = tempfile.mkdtemp(prefix='petseg-worker-')
    run_dir, serving_dir = os.path.join(scratch, 'run'), os.path.join(scratch, 'serving')
  tf.io.gfile.makedirs(run_dir)
  with tf.io.gfile.GFile(os.path.join(run_dir, training.CONFIG_FILE), 'w') as f:
    f.write(json.dumps(training.recorded(fn_args.custom_config), indent=2))
  history_csv = os.path.join(run_dir, 'history.csv')
  keep_best = training.KeepBest('val_mean_iou', config.early_stopping_patience)
  callbacks = [keep_best, keras.callbacks.TensorBoard(run_dir),
               keras.callbacks.CSVLogger(history_csv, append=True)]
  several_workers = getattr(strategy, 'cluster_resolver', None) is not None
  budget = None
  if config.max_train_minutes:
    if several_workers:  # each would time its epochs and stop on its own: a deadlock
      raise errors.ConfigError('max_train_minutes needs a single worker; set epochs instead')
    budget = training.TimeBudget(config.max_train_minutes, config.epochs, steps_per_epoch)
    callbacks.append(budget)
  callbacks.append(training.Progress(keep_best, config.epochs, budget))
  if config.ema_momentum:
    callbacks.append(training.ValidateAveraged())  # after KeepBest, before Resume
  resume, state = None, None
  if resume_root and not several_workers:
    resume = training.Resume(resume_directory(resume_root, fn_args), keep_best, history_csv,
                             budget)
    resume.set_model(model)  # restored before fit() would set it
    keep_best.set_model(model)
    tf.io.gfile.makedirs(resume.directory)
    callbacks.append(resume)  # last: it saves what the others have just updated
    state = resume.saved()
    if state and budget:
      budget.restore(state['budget'])
  encoder = _encoder(model)
  restored = False
  for phase, (first_epoch, last_epoch, encoder_trainable) in enumerate(
      training_phases(config, encoder is not None)):
    start = resumed_start(state, phase, first_epoch)
    if start is None or start >= last_epoch:
      continue  # done before the process was interrupted
    if budget and budget.exhausted:
      break
    if encoder is not None:
      # Trainability takes effect at compile time in Keras 2, hence one compile per phase.
      encoder.trainable = encoder_trainable
    # A pretrained encoder is fine-tuned at a lower learning rate.
    slow = encoder.trainable_variables if encoder is not None and config.encoder_weights else ()
    with strategy.scope():
      _compile(model, config, stats, steps_per_epoch, budget and budget.total_steps, slow)
    if state and not restored:
      # Same phase: the optimizer goes on too; a new phase starts a new one.
      resume.restore(state, optimizer=state['phase'] == phase)
      restored = True
      logging.info('Resuming training at epoch %d of %d (%s)', start + 1, config.epochs,
                   resume.directory)
    if start == first_epoch:
      keep_best.wait = 0  # early stopping counts per phase
    if resume:
      resume.phase = phase
    # Each fit reads the stream from its start: a resumed one skips the epochs done.
    train = _shard_by_example(input_pipeline.dataset(
        fn_args.train_files, config, batch_size, training_split=True,
        skip_batches=(start - first_epoch) * steps_per_epoch, examples=train_examples))
    model.fit(train, steps_per_epoch=steps_per_epoch, validation_data=evaluation,
              initial_epoch=start, epochs=last_epoch, callbacks=callbacks, verbose=2)
  if state and not restored:  # every phase was done: the best weights are all it needs
    resume.restore_best(state)
  keep_best.restore()
  progress.LOGGER.info('best eval mean IoU %.3f, at epoch %d: its weights are kept',
                       keep_best.best, keep_best.best_epoch + 1, extra={'final': True})
  export.save(model, tf_transform_output, config, labels, serving_dir)
  if serving_dir != fn_args.serving_model_dir:
    shutil.rmtree(os.path.dirname(serving_dir))  # a worker's scratch copy
  if resume:
    tf.io.gfile.rmtree(resume.directory)  # finished: nothing to resume
