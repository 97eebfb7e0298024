"""SavedModel export: the model with its Transform graph, served with no code of ours.

Signatures:
  serving_default     images: encoded JPEG/PNG bytes [B] -> class_ids [B, H, W] uint8 and
                      probabilities [B, H, W, C] at each image's own size (a batch of
                      different sizes is padded to the largest: class id 255, probability
                      0 there), with height [B] and width [B]
  serving_examples    serialized raw tf.Examples [B] -> class_ids [B, h, w] and
                      probabilities [B, h, w, C] at the image size of the training config
                      (for evaluation)
  transform_features  serialized raw tf.Examples [B] -> true_class_ids [B, h, w]: the
                      transformed mask (evaluation's ground truth)

The model runs on the whole image at that size (padded to its stride inside the model),
and, with test_time_flip, on its mirror image too.

assets.extra/labels.json holds the classes (names, mask encoding), which tools that show
predictions read; TensorFlow Serving ignores the folder's other files.
"""
import json
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from petseg.core import features
from petseg.core import labels as labels_lib
from petseg.core.labels import IGNORE_ID
from petseg.models import training

LABELS_FILE = os.path.join('assets.extra', 'labels.json')


def _predict(model, config: training.TrainingConfig, transformed):
  images = features.parse_images(transformed[features.IMAGE], config.image_size)
  probabilities = tf.nn.softmax(model(images))
  if config.test_time_flip:  # and the mirror image's, mirrored back
    mirrored = tf.nn.softmax(model(tf.reverse(images, axis=[2])))
    probabilities = (probabilities + tf.reverse(mirrored, axis=[2])) / 2
  return {features.CLASS_IDS: tf.cast(tf.argmax(probabilities, axis=-1), tf.uint8),
          'probabilities': probabilities}


def _at_own_size(probabilities, heights, widths):
  """Resizes each map back to its image's size, padding the batch to the largest."""
  max_h, max_w = tf.reduce_max(heights), tf.reduce_max(widths)

  def restore(args):
    p, h, w = args
    resized = tf.image.resize(p, tf.stack([h, w]), method='bilinear')
    return tf.pad(resized, [[0, max_h - h], [0, max_w - w], [0, 0]])

  restored = tf.map_fn(restore, (probabilities, heights, widths),
                       fn_output_signature=tf.TensorSpec([None, None, None], tf.float32))
  inside = ((tf.range(max_h)[tf.newaxis, :, tf.newaxis] < heights[:, tf.newaxis, tf.newaxis])
            & (tf.range(max_w)[tf.newaxis, tf.newaxis, :] < widths[:, tf.newaxis, tf.newaxis]))
  class_ids = tf.where(inside, tf.cast(tf.argmax(restored, axis=-1), tf.uint8),
                       tf.constant(IGNORE_ID, tf.uint8))
  return class_ids, restored


def save(model: keras.Model, tf_transform_output: tft.TFTransformOutput,
         config: training.TrainingConfig, labels: labels_lib.LabelSpec, export_dir: str) -> None:
  # Tracked on the model, so that the Transform graph's resources are saved with it.
  model.tft_layer = tf_transform_output.transform_features_layer()
  image_spec = {'image': tf.io.FixedLenFeature([1], tf.string)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='images')])
  def serve_images(images):
    shapes = tf.map_fn(
        lambda e: tf.shape(features.decode_image(e))[:2],
        images, fn_output_signature=tf.TensorSpec([2], tf.int32))
    transformed = model.tft_layer({'image': tf.reshape(images, [-1, 1])})
    predicted = _predict(model, config, transformed)
    class_ids, probabilities = _at_own_size(predicted['probabilities'], shapes[:, 0],
                                            shapes[:, 1])
    return {features.CLASS_IDS: class_ids, 'probabilities': probabilities,
            'height': shapes[:, 0], 'width': shapes[:, 1]}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve_examples(examples):
    # Only the image is parsed: the Transform layer drops outputs that need the mask.
    return _predict(model, config, model.tft_layer(tf.io.parse_example(examples, image_spec)))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def transform_features(examples):
    raw = tf.io.parse_example(examples, tf_transform_output.raw_feature_spec())
    masks = model.tft_layer(raw)[features.MASK]
    parsed = tf.map_fn(lambda m: features.parse_mask(m, config.image_size), masks,
                       fn_output_signature=tf.TensorSpec(config.image_size, tf.uint8))
    return {features.TRUE_CLASS_IDS: tf.cast(parsed, tf.int64)}

  model.save(export_dir, save_format='tf', signatures={
      'serving_default': serve_images, 'serving_examples': serve_examples,
      'transform_features': transform_features})
  tf.io.gfile.makedirs(os.path.dirname(os.path.join(export_dir, LABELS_FILE)))
  with tf.io.gfile.GFile(os.path.join(export_dir, LABELS_FILE), 'w') as f:
    json.dump(labels.to_json(), f)


def load_labels(model_dir: str) -> labels_lib.LabelSpec:
  with tf.io.gfile.GFile(os.path.join(model_dir, LABELS_FILE)) as f:
    return labels_lib.LabelSpec.from_json(json.load(f))
