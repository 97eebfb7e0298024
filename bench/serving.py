"""Serving latency: the exported model on raw JPEG bytes against the bare Keras model on
images already decoded and resized, batch 1 and 16, median and p95.

Ours is what a server runs: `serving_default` (decode, the Transform graph, the model,
probabilities resized back to each image's size and their argmax) and the lean
`serving_class_ids` (the same without returning the probabilities). The baseline is the
same Keras model, called on float tensors at its input size: what the network alone
costs. Both sides are in this process, on the same weights: unet_xception at 160x160
with the Oxford sample's transform graph (common.transformed_oxford), exported by
models/export.save. Weights are random; latency does not depend on them. Images: the
Oxford sample's JPEGs (about 500x375). Also reported: the JSON a REST client receives
for one image from each signature.

  python bench/serving.py [--repeats 30]
"""
import argparse
import glob
import json
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

import common
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


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--repeats', type=int, default=30)
  args = parser.parse_args()
  train_files, graph_dir = common.transformed_oxford(SIZE)
  tft_output = tft.TFTransformOutput(graph_dir)
  config = training.TrainingConfig(image_size=SIZE, num_classes=3)
  model = module_file.build_model(config, module_file.read_statistics(train_files, tft_output))
  export_dir = os.path.join(tempfile.mkdtemp(prefix='petseg-serving-bench-'), 'model')
  export.save(model, tft_output, config, labels_lib.oxford_trimap_labels(), export_dir)
  served = tf.saved_model.load(export_dir)
  paths = sorted(glob.glob(os.path.join(common.OXFORD_SAMPLE, 'images', '*.jpg')))[:16]
  jpegs = [open(path, 'rb').read() for path in paths]
  decoded = tf.stack([tf.image.resize(tf.io.decode_jpeg(j, channels=3), (SIZE, SIZE))
                      for j in jpegs])
  bare = tf.function(lambda images: model(images, training=False))

  results = {}
  for batch in (1, 16):
    images = tf.constant(jpegs[:batch])
    results[f'batch_{batch}'] = {
        'serving_default_ms': _latency_ms(
            lambda: served.signatures['serving_default'](images=images), args.repeats),
        'serving_class_ids_ms': _latency_ms(
            lambda: served.signatures['serving_class_ids'](images=images), args.repeats),
        'bare_model_ms': _latency_ms(lambda: bare(decoded[:batch]).numpy(), args.repeats),
    }
    common.report({'batch': batch, **results[f'batch_{batch}']})
  one = tf.constant(jpegs[:1])
  payload = {'serving_default_mb': _json_megabytes(
                 served.signatures['serving_default'](images=one)),
             'serving_class_ids_mb': _json_megabytes(
                 served.signatures['serving_class_ids'](images=one))}
  common.report(payload)
  ratio = {name: round(r['serving_default_ms'][0] / r['bare_model_ms'][0], 2)
           for name, r in results.items()}
  lean_ratio = {name: round(r['serving_class_ids_ms'][0] / r['bare_model_ms'][0], 2)
                for name, r in results.items()}
  common.report({'bench': 'serving',
                 'ours': {n: r['serving_default_ms'][0] for n, r in results.items()},
                 'baseline': {n: r['bare_model_ms'][0] for n, r in results.items()},
                 'ratio': ratio, 'lean_ratio': lean_ratio, 'results': results,
                 'json_payload': payload})


if __name__ == '__main__':
  main()
