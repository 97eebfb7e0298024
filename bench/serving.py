"""Serving latency: the exported model on raw JPEG bytes against the bare Keras model on
images already decoded and resized, batch 1 and 16, median (p50) and p95, each over
`--runs` repeated runs, with their spread.

Ours is what a server runs: `serving_default` (decode, the Transform graph, the model,
probabilities resized back to each image's size and their argmax) and the lean
`serving_class_ids` (the same without returning the probabilities). The baseline is the
same Keras model, called on float tensors at its input size: what the network alone
costs. Both sides are in this process, on the same weights: unet_xception at 160x160
with the Oxford sample's transform graph (common.transformed_oxford), exported by
models/export.save. Weights are random; latency does not depend on them. Images: the
Oxford sample's JPEGs (about 500x375). Also reported: the JSON a REST client receives
for one image from each signature. Each run times every side at both batch sizes, one
after another, so a ratio is of figures measured minutes apart at most; `ratio` is the
median of the runs' ratios of p50s, `spread` their lowest and highest. At batch 16 each
stage of the lean signature is also timed alone: where the time over the model goes.

  python bench/serving.py [--repeats 30] [--runs 3]
"""
import argparse
import json
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

import common
from petseg.core import features
from petseg.core import labels as labels_lib
from petseg.models import export
from petseg.models import module_file
from petseg.models import training

SIZE = 160


def _latency_ms(call, repeats: int):
  """(median, p95) milliseconds of `call()`, after two warm-up calls (tracing)."""
  for _ in range(2):
    call()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    times.append((time.perf_counter() - start) * 1000)
  return round(float(np.median(times)), 1), round(float(np.percentile(times, 95)), 1)


def _json_megabytes(outputs) -> float:
  """The size of the JSON that TensorFlow Serving's REST API would return."""
  return round(len(json.dumps({k: v.numpy().tolist() for k, v in outputs.items()})) / 1e6, 2)


def _stages_ms(model, tft_output, jpegs, repeats: int) -> dict:
  """Where the lean signature's time goes: the p50 of each of its stages, timed alone on
  the batch (models/export.py's own functions)."""
  layer = tft_output.transform_features_layer()
  shapes = tf.function(lambda images: tf.map_fn(
      export._image_shape, images,  # pylint: disable=protected-access
      fn_output_signature=tf.TensorSpec([2], tf.int32)))
  transform = tf.function(lambda images: features.parse_images(
      layer({'image': tf.reshape(images, [-1, 1])})[features.IMAGE], (SIZE, SIZE)))
  model_only = tf.function(lambda images: tf.nn.softmax(model(images, training=False)))
  restore = tf.function(lambda p, size: export._at_own_size(  # pylint: disable=protected-access
      p, size[:, 0], size[:, 1], with_probabilities=False))
  images, sizes = transform(jpegs), shapes(jpegs)
  probabilities = model_only(images)
  return {'jpeg_sizes': _latency_ms(lambda: shapes(jpegs).numpy(), repeats)[0],
          'decode_and_transform': _latency_ms(lambda: transform(jpegs).numpy(), repeats)[0],
          'model_and_softmax': _latency_ms(lambda: model_only(images).numpy(), repeats)[0],
          'resize_back_and_argmax': _latency_ms(
              lambda: restore(probabilities, sizes).numpy(), repeats)[0]}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--repeats', type=int, default=30, help='timed calls per figure')
  parser.add_argument('--runs', type=int, default=3, help='repeated runs, for the spread')
  args = parser.parse_args()
  train_files, graph_dir = common.transformed_oxford(SIZE)
  tft_output = tft.TFTransformOutput(graph_dir)
  config = training.TrainingConfig(image_size=SIZE, num_classes=3)
  model = module_file.build_model(config, module_file.read_statistics(train_files, tft_output))
  export_dir = os.path.join(tempfile.mkdtemp(prefix='petseg-serving-bench-'), 'model')
  export.save(model, tft_output, config, labels_lib.oxford_trimap_labels(), export_dir)
  served = tf.saved_model.load(export_dir)
  paths = common.sample_jpegs()
  jpegs = [open(path, 'rb').read() for path in paths]
  decoded = tf.stack([tf.image.resize(tf.io.decode_jpeg(j, channels=3), (SIZE, SIZE))
                      for j in jpegs])
  bare = tf.function(lambda images: model(images, training=False))

  calls = {'serving_default': lambda images, _: served.signatures['serving_default'](
               images=images),
           'serving_class_ids': lambda images, _: served.signatures['serving_class_ids'](
               images=images),
           'bare_model': lambda _, batch: bare(decoded[:batch]).numpy()}
  runs = []
  for run in range(args.runs):
    figures = {}
    for batch in (1, 16):
      images = tf.constant(jpegs[:batch])
      figures[f'batch_{batch}'] = {
          side: _latency_ms(lambda call=call: call(images, batch), args.repeats)
          for side, call in calls.items()}
    runs.append(figures)
    common.report({'run': run + 1, **figures})
  stages = _stages_ms(model, tft_output, tf.constant(jpegs), args.repeats)
  common.report({'stages_ms_batch_16': stages})
  one = tf.constant(jpegs[:1])
  payload = {'serving_default_mb': _json_megabytes(
                 served.signatures['serving_default'](images=one)),
             'serving_class_ids_mb': _json_megabytes(
                 served.signatures['serving_class_ids'](images=one))}
  common.report(payload)

  def ratios(side):  # batch -> each run's ratio of p50s
    return {batch: [r[batch][side][0] / r[batch]['bare_model'][0] for r in runs]
            for batch in runs[0]}

  def summary(side):
    return {batch: round(float(np.median(values)), 2) for batch, values in ratios(side).items()}

  def spread(side):
    return {batch: [round(min(values), 2), round(max(values), 2)]
            for batch, values in ratios(side).items()}

  def p50(side):
    return {batch: round(float(np.median([r[batch][side][0] for r in runs])), 1)
            for batch in runs[0]}

  common.report({'bench': 'serving', 'ours': p50('serving_default'),
                 'baseline': p50('bare_model'),
                 'ratio': summary('serving_default'), 'spread': spread('serving_default'),
                 'lean': p50('serving_class_ids'), 'lean_ratio': summary('serving_class_ids'),
                 'lean_spread': spread('serving_class_ids'),
                 'stages_ms_batch_16': stages, 'runs': runs, 'json_payload': payload})


if __name__ == '__main__':
  main()
