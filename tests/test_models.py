"""Every model builds at its default and another size, and one training step changes it."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from petseg.core import errors
from petseg.models import blocks
from petseg.models import export
from petseg.models import module_file
from petseg.models import registry
from petseg.models import training

STATS = {'image_mean': np.array([120., 110., 100.], np.float32),
         'image_std': np.array([50., 50., 50.], np.float32)}


@pytest.mark.parametrize('name', sorted(registry.MODELS))
def test_builds_for_any_size_its_stride_divides(name):
  model_def = registry.MODELS[name]
  model = registry.build(name, 5)
  assert model.output_shape == (None, None, None, 5)
  size = model_def.default_size
  assert model(np.zeros((1, size, size, 3), np.float32)).shape == (1, size, size, 5)
  stride = model_def.stride
  assert model(np.zeros((1, stride * 2, stride * 3, 3), np.float32)).shape == (
      1, stride * 2, stride * 3, 5)


@pytest.mark.parametrize('name', sorted(registry.MODELS))
def test_trains_a_step_at_another_size(name):
  model_def = registry.MODELS[name]
  size = model_def.stride * 3 if name != 'unet_mobilenetv2' else model_def.stride * 2
  assert size != model_def.default_size
  config = training.TrainingConfig(model=name, image_size=size, num_classes=3, epochs=1)
  model = module_file.build_model(config, STATS)
  # Eagerly: one step needs the gradients, not the minute of graph tracing.
  model.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=training.SegmentationLoss(np.ones(3, np.float32)), run_eagerly=True)
  rng = np.random.default_rng(0)
  images = rng.uniform(0, 255, (2, size, size, 3)).astype(np.float32)
  masks = rng.integers(0, 3, (2, size, size)).astype(np.uint8)
  before = [w.copy() for w in model.get_weights()]
  loss = model.train_on_batch(images, masks)
  assert np.isfinite(loss)
  assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
  assert model(images).shape == (2, size, size, 3)


def test_unet_xception_matches_the_keras_io_example():
  assert registry.build('unet_xception', 3).count_params() == 2_058_979


def test_deeplab_takes_an_xception_backbone():
  model = registry.build('deeplabv3plus', 4, backbone='xception')
  assert model(np.zeros((1, 96, 96, 3), np.float32)).shape == (1, 96, 96, 4)
  assert model.get_layer(blocks.ENCODER).get_layer('block13_sepconv2_bn')


def test_sep_resnet_fcn_head_width_is_a_parameter():
  narrow = registry.build('sep_resnet_fcn', 3, head_width=64)
  wide = registry.build('sep_resnet_fcn', 3, head_width=256)
  assert narrow.count_params() < wide.count_params()


def test_crops_the_strides_do_not_divide_are_refused():
  with pytest.raises(errors.ConfigError,
                     match='fcn_vgg16 needs a crop size divisible by 32, got 100x64; try 96x64 '
                     'or 128x64'):
    registry.check_crop_size('fcn_vgg16', (100, 64))
  with pytest.raises(errors.ConfigError, match='unknown model'):
    registry.get('segformer')


def test_the_trainers_model_takes_whole_images_of_any_size():
  """Padded to the stride inside, the logits cropped back: 100x150 with stride 32."""
  config = training.TrainingConfig(model='fcn_vgg16', image_size='100x150', num_classes=3)
  assert config.image_size == (100, 150) and config.crop == (96, 128)
  model = module_file.build_model(config, STATS)
  image = np.random.default_rng(0).uniform(0, 255, (1, 100, 150, 3)).astype(np.float32)
  assert model(image).shape == (1, 100, 150, 3)
  assert model(np.zeros((2, 96, 128, 3), np.float32)).shape == (2, 96, 128, 3)


def test_padding_mirrors_the_image_up_to_the_stride():
  image = np.arange(5 * 6, dtype=np.float32).reshape(1, 5, 6, 1)
  padded = blocks.PadToMultiple(4)(image).numpy()
  assert padded.shape == (1, 8, 8, 1)
  np.testing.assert_array_equal(padded[0, :5, :6], image[0])
  np.testing.assert_array_equal(padded[0, 5:, :6, 0], image[0, [3, 2, 1], :, 0])  # mirrored
  np.testing.assert_array_equal(blocks.CropLike()([padded, image]).numpy(), image)


def test_encoder_weights_load_from_a_local_file(tmp_path):
  """Pretrained weights come from a file (nothing can be downloaded); here, our own."""
  source = keras.applications.MobileNetV2(input_shape=(64, 64, 3), include_top=False,
                                          weights=None)
  path = str(tmp_path / 'mobilenet_v2.h5')
  source.save_weights(path)
  config = training.TrainingConfig(model='unet_mobilenetv2', image_size=64, num_classes=3,
                                   encoder_weights=path)
  model = module_file.build_model(config, STATS)
  encoder = model.get_layer('unet_mobilenetv2').get_layer(blocks.ENCODER)
  first_conv = source.get_layer('Conv1').get_weights()[0]
  np.testing.assert_array_equal(encoder.get_layer('Conv1').get_weights()[0], first_conv)


@pytest.mark.parametrize('mode, application', [
    ('tf', keras.applications.mobilenet_v2), ('tf', keras.applications.xception),
    ('caffe', keras.applications.vgg16)])
def test_pretrained_encoders_get_the_input_their_weights_expect(mode, application):
  images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
  ours = blocks.ImagenetPreprocessing(mode)(images).numpy()
  np.testing.assert_allclose(ours, application.preprocess_input(images.copy()), atol=1e-4)


def test_imagenet_weights_come_through_keras_cache(tmp_path, monkeypatch):
  """No network here: a weights file made for the same architecture, put where Keras'
  cache looks, is what "imagenet" loads; the model feeds it [-1, 1] images."""
  monkeypatch.setenv('HOME', str(tmp_path))
  source = keras.applications.MobileNetV2(input_shape=(None, None, 3), include_top=False,
                                          weights=None)
  cached = tmp_path / '.keras' / 'models'
  cached.mkdir(parents=True)
  source.save_weights(str(cached / 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_'
                                   'no_top.h5'))
  config = training.TrainingConfig(model='unet_mobilenetv2', image_size=64, num_classes=3,
                                   encoder_weights=blocks.IMAGENET)
  model = module_file.build_model(config, STATS)
  encoder = model.get_layer('unet_mobilenetv2').get_layer(blocks.ENCODER)
  np.testing.assert_array_equal(encoder.get_layer('Conv1').get_weights()[0],
                                source.get_layer('Conv1').get_weights()[0])
  preprocessing, = [l for l in model.layers if isinstance(l, blocks.ImagenetPreprocessing)]
  assert preprocessing.mode == 'tf'
  assert not [l for l in model.layers if isinstance(l, keras.layers.Normalization)]


def test_imagenet_weights_offline_name_the_file_and_where_it_goes(tmp_path, monkeypatch):
  monkeypatch.setenv('HOME', str(tmp_path))  # an empty cache; no network on this machine
  (tmp_path / '.keras').mkdir()
  config = training.TrainingConfig(model='fcn_vgg16', image_size=64, num_classes=3,
                                   encoder_weights=blocks.IMAGENET)
  with pytest.raises(errors.ConfigError) as e:
    module_file.build_model(config, STATS)
  message = str(e.value)
  assert message.startswith("encoder_weights 'imagenet': Keras could not download "
                            'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (')
  assert message.endswith(f'offline, put that file in {tmp_path}/.keras/models and run again')
  assert '\n' not in message


def test_encoder_weights_need_an_encoder():
  config = training.TrainingConfig(model='unet_xception', image_size=64, encoder_weights='x.h5')
  with pytest.raises(errors.ConfigError, match='no pretrained encoder'):
    module_file.build_model(config, STATS)


def test_the_trainer_traces_keras_2_as_written_and_our_layers_through_autograph():
  """Keras 2 is not rewritten by AutoGraph (as when it was tf.keras), our own layers still
  are; asking twice adds the rule once (bench/first_step.py measures what it saves)."""
  from tensorflow.python.autograph.core import config  # pylint: disable=g-import-not-at-top
  from tensorflow.python.autograph.impl import conversion  # pylint: disable=g-import-not-at-top
  module_file.keras_as_written()
  module_file.keras_as_written()
  assert conversion.is_allowlisted(keras.layers.Dense(1).call)
  assert not conversion.is_allowlisted(blocks.PadToMultiple(32).call)
  assert sum(isinstance(rule, config.DoNotConvert) and rule.matches('tf_keras')
             for rule in config.CONVERSION_RULES) == 1


def test_training_phases_freeze_the_encoder_first():
  config = training.TrainingConfig(epochs=10, freeze_encoder_epochs=3)
  assert module_file.training_phases(config, has_encoder=True) == [(0, 3, False), (3, 10, True)]
  assert module_file.training_phases(config, has_encoder=False) == [(0, 10, True)]
  unfrozen = training.TrainingConfig(epochs=10)
  assert module_file.training_phases(unfrozen, has_encoder=True) == [(0, 10, True)]


def test_a_frozen_encoder_does_not_learn():
  config = training.TrainingConfig(model='unet_mobilenetv2', image_size=64, num_classes=3)
  model = module_file.build_model(config, STATS)
  encoder = model.get_layer('unet_mobilenetv2').get_layer(blocks.ENCODER)
  encoder.trainable = False
  model.compile(optimizer=keras.optimizers.Adam(1e-2),
                loss=training.SegmentationLoss(np.ones(3, np.float32)), run_eagerly=True)
  encoder_before = [w.copy() for w in encoder.get_weights()]
  head = model.get_layer('unet_mobilenetv2').layers[-1]
  head_before = [w.copy() for w in head.get_weights()]
  rng = np.random.default_rng(0)
  model.train_on_batch(rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32),
                       rng.integers(0, 3, (2, 64, 64)).astype(np.uint8))
  # Its batch norm's moving statistics too: a frozen encoder runs it in inference mode.
  assert all(np.array_equal(a, b) for a, b in zip(encoder_before, encoder.get_weights()))
  assert any(not np.array_equal(a, b) for a, b in zip(head_before, head.get_weights()))


@pytest.mark.parametrize('optimizer', ['adam', 'adamw', 'rmsprop'])
def test_a_fine_tuned_encoder_learns_at_the_lower_rate(optimizer):
  """One compiled training step: the encoder's weights move `encoder_learning_rate_scale`
  times as far as the same optimizer moves them at the full rate; the rest move alike."""
  config = training.TrainingConfig(optimizer=optimizer, learning_rate=1e-2, warmup_epochs=0,
                                   weight_decay=0, encoder_learning_rate_scale=0.25)
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)

  def step(slow: bool):
    keras.utils.set_random_seed(0)
    encoder = keras.layers.Dense(3, name='encoder')
    model = keras.Sequential([keras.Input((4,)), encoder, keras.layers.Dense(2)])
    before = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=training.optimizer(
        config, steps_per_epoch=1, slow_variables=encoder.trainable_variables if slow else ()),
        loss='mse')
    model.train_on_batch(x, y)
    return [after - b for after, b in zip(model.get_weights(), before)]

  full, slow = step(slow=False), step(slow=True)
  for moved_full, moved_slow in zip(full[:2], slow[:2]):  # the encoder's kernel and bias
    np.testing.assert_allclose(moved_slow, 0.25 * moved_full, rtol=1e-4, atol=1e-7)
    assert np.abs(moved_full).max() > 0
  for moved_full, moved_slow in zip(full[2:], slow[2:]):
    np.testing.assert_allclose(moved_slow, moved_full, rtol=1e-5)


@pytest.mark.parametrize('num_classes', [2, 3, 8, 11])
def test_the_served_argmax_is_tf_argmax_ties_included(num_classes):
  """Compared a class at a time (a few classes) or by tf.argmax (many): the same class ids,
  the first class among equals, in near-ties a few ulps apart too."""
  rng = np.random.default_rng(num_classes)
  base = rng.random((2, 30, 40, 1)).astype(np.float32)
  for values in (rng.random((2, 30, 40, num_classes)).astype(np.float32),
                 base + rng.integers(-1, 2, (2, 30, 40, num_classes)) * np.float32(1e-7),
                 np.repeat(base, num_classes, axis=-1)):
    ours = export._argmax(tf.constant(values))  # pylint: disable=protected-access
    assert ours.dtype == tf.uint8
    assert np.array_equal(ours.numpy(), tf.argmax(values, axis=-1).numpy())
