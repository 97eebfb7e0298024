"""SavedModel export: the model with its Transform graph, served with no code of ours.

Signatures:
  serving_default     images: encoded JPEG/PNG bytes [B] -> class_ids [B, H, W] uint8 and
                      probabilities [B, H, W, C] at each image's own size (a batch of
                      different sizes is padded to the largest: class id 255, probability
                      0 there), with height [B] and width [B]
  serving_class_ids   the same without the probabilities: for REST clients, whose JSON
                      would otherwise carry C floats per pixel
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


# Up to this many classes, comparing one class at a time beats tf.argmax over the last axis
# (Eigen reduces a short innermost axis slowly): 5.4 against 9.7 ms for 3 classes of four
# 500x375 maps, 13 against 16 at 8, slower from 11 on (measured on 2 cores).
_COMPARED_CLASSES = 8


def _argmax(values):
  """tf.argmax(values, -1) as uint8, the first class among equals as tf.argmax takes it."""
  num_classes = values.shape[-1]
  if num_classes > _COMPARED_CLASSES:
    return tf.cast(tf.argmax(values, axis=-1), tf.uint8)
  best, class_ids = values[..., 0], tf.zeros(tf.shape(values)[:-1], tf.uint8)
  for c in range(1, num_classes):
    class_ids = tf.where(values[..., c] > best, tf.constant(c, tf.uint8), class_ids)
    best = tf.maximum(best, values[..., c])
  return class_ids


def _predict(model, config: training.TrainingConfig, transformed):
  images = features.parse_images(transformed[features.IMAGE], config.image_size)
  probabilities = tf.nn.softmax(model(images))
  if config.test_time_flip:  # and the mirror image's, mirrored back
    mirrored = tf.nn.softmax(model(tf.reverse(images, axis=[2])))
    probabilities = (probabilities + tf.reverse(mirrored, axis=[2])) / 2
  return {features.CLASS_IDS: _argmax(probabilities),
          'probabilities': probabilities}


def _at_own_size(probabilities, heights, widths, with_probabilities: bool):
  """Class ids (and, if asked, probabilities) resized back to each image's size, the
  batch padded to its largest image with class IGNORE_ID (and probability 0). Each image
  is resized, its argmax taken and padded on its own: a padded batch of float maps is
  only made when the probabilities are returned."""
  max_h, max_w = tf.reduce_max(heights), tf.reduce_max(widths)

  def restore(args):
    p, h, w = args
    resized = tf.image.resize(p, tf.stack([h, w]), method='bilinear')
    padding = [[0, max_h - h], [0, max_w - w]]
    class_ids = tf.pad(_argmax(resized), padding, constant_values=IGNORE_ID)
    if not with_probabilities:
      return class_ids
    return class_ids, tf.pad(resized, [*padding, [0, 0]])

  class_ids_spec = tf.TensorSpec([None, None], tf.uint8)
  return tf.map_fn(restore, (probabilities, heights, widths), fn_output_signature=(
      (class_ids_spec, tf.TensorSpec([None, None, None], tf.float32))
      if with_probabilities else class_ids_spec))


def _image_shape(encoded):
  """(height, width) of encoded image bytes: from a JPEG's header, else by decoding."""
  return tf.cond(tf.io.is_jpeg(encoded),
                 lambda: tf.image.extract_jpeg_shape(encoded)[:2],
                 lambda: tf.shape(features.decode_image(encoded))[:2])


def save(model: keras.Model, tf_transform_output: tft.TFTransformOutput,
         config: training.TrainingConfig, labels: labels_lib.LabelSpec, export_dir: str) -> None:
  # Tracked on the model, so that the Transform graph's resources are saved with it.
  model.tft_layer = tf_transform_output.transform_features_layer()
  image_spec = {'image': tf.io.FixedLenFeature([1], tf.string)}

  def predict_images(images, with_probabilities):
    shapes = tf.map_fn(_image_shape, images, fn_output_signature=tf.TensorSpec([2], tf.int32))
    transformed = model.tft_layer({'image': tf.reshape(images, [-1, 1])})
    restored = _at_own_size(_predict(model, config, transformed)['probabilities'],
                            shapes[:, 0], shapes[:, 1], with_probabilities)
    sizes = {'height': shapes[:, 0], 'width': shapes[:, 1]}
    if with_probabilities:
      return {features.CLASS_IDS: restored[0], 'probabilities': restored[1], **sizes}
    return {features.CLASS_IDS: restored, **sizes}

  images_spec = [tf.TensorSpec([None], tf.string, name='images')]
  serve_images = tf.function(lambda images: predict_images(images, True),
                             input_signature=images_spec)
  serve_class_ids = tf.function(lambda images: predict_images(images, False),
                                input_signature=images_spec)

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

  # Without Keras' traces of every layer's call (for reviving it as a Keras model, which
  # nothing does: serving, TFMA and predict call the signatures): 7.1 against 12.0 s of
  # the Trainer's time for unet_xception, the same signatures and outputs.
  model.save(export_dir, save_format='tf', save_traces=False, signatures={
      'serving_default': serve_images, 'serving_class_ids': serve_class_ids,
      'serving_examples': serve_examples,
      'transform_features': transform_features})
  tf.io.gfile.makedirs(os.path.dirname(os.path.join(export_dir, LABELS_FILE)))
  with tf.io.gfile.GFile(os.path.join(export_dir, LABELS_FILE), 'w') as f:
    json.dump(labels.to_json(), f)


def load_labels(model_dir: str) -> labels_lib.LabelSpec:
  with tf.io.gfile.GFile(os.path.join(model_dir, LABELS_FILE)) as f:
    return labels_lib.LabelSpec.from_json(json.load(f))
