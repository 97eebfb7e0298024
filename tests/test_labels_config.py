"""Label specs, the VOC palette, and dataset configuration presets and overrides."""
import dataclasses
import json

import pytest

from petseg.components.example_gen import sources
from petseg.core import config as config_lib
from petseg.core import errors
from petseg.core import labels
from petseg.pipeline import run_config


def test_voc_palette_matches_the_published_colours():
  assert labels.voc_colour(0) == (0, 0, 0)
  assert labels.voc_colour(1) == (128, 0, 0)
  assert labels.voc_colour(15) == (192, 128, 128)  # person
  assert labels.voc_colour(255) == (224, 224, 192)  # object outlines
  spec = labels.voc_labels()
  assert spec.num_classes == 21
  assert spec.value_to_id[(224, 224, 192)] == labels.IGNORE_ID


def test_oxford_trimaps_learn_or_ignore_the_border():
  assert labels.oxford_trimap_labels().value_to_id == {1: 0, 2: 1, 3: 2}
  ignoring = labels.oxford_trimap_labels(border_as_ignore=True)
  assert ignoring.class_names == ('pet', 'background')
  assert ignoring.value_to_id[3] == labels.IGNORE_ID


def test_camvid_void_is_ignored():
  spec = labels.camvid_labels()
  assert spec.num_classes == 11
  assert spec.value_to_id[11] == labels.IGNORE_ID
  assert spec.value_to_id[10] == 10


def test_label_spec_rejects_ids_outside_its_classes():
  with pytest.raises(errors.ConfigError, match=r'class ids \[5\]'):
    labels.LabelSpec(('a', 'b'), 'class_ids', {0: 0, 1: 5})


@pytest.mark.parametrize('name, message', [
    ('cat\n2026-01-01  released as version 9', r"^class_names: 'cat\\\\n2026.*control"),
    ('\x1b[2Jdog', r"^class_names: '\\\\x1b\[2Jdog' holds a control character"),
    (b'\xffox'.decode('utf-8', 'surrogateescape'), r"^class_names: '\\\\xffox' holds"),
    (' ', "^class_names: ' ' is not a name")])
def test_a_class_name_is_one_line_of_text(name, message):
  with pytest.raises(errors.ConfigError, match=message):
    labels.LabelSpec(('background', name), 'class_ids', {0: 0, 1: 1})


@pytest.mark.parametrize('spec', [labels.voc_labels(), labels.camvid_labels(),
                                  labels.oxford_trimap_labels(True)])
def test_label_spec_survives_json(spec):
  assert labels.LabelSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_dataset_config_round_trips_through_json(tmp_path):
  config = sources.dataset_config('voc', str(tmp_path), {'eval_fraction': 0.3})
  again = config_lib.DatasetConfig.from_json(json.loads(json.dumps(config.to_json())))
  assert again == config
  assert again.name == 'voc' and again.eval_fraction == 0.3


def test_folder_config_from_a_file(tmp_path):
  overrides = {'palette': [{'name': 'road', 'colour': [128, 64, 128]},
                           {'name': 'car', 'colour': [64, 0, 128]}],
               'ignore_colours': [[0, 0, 0]], 'max_reject_fraction': 0.5}
  config = sources.dataset_config('folder', str(tmp_path), overrides)
  assert config.labels.encoding == 'rgb'
  assert config.labels.value_to_id == {(128, 64, 128): 0, (64, 0, 128): 1, (0, 0, 0): 255}
  assert config.max_reject_fraction == 0.5


def test_plain_folder_without_classes_says_how_to_give_them(tmp_path):
  (tmp_path / 'images').mkdir()
  with pytest.raises(errors.ConfigError, match='needs its classes: pass --config'):
    sources.dataset_config('folder', str(tmp_path))


def test_camvid_layout_implies_camvid_classes(tmp_path):
  (tmp_path / 'images_prepped_train').mkdir()
  assert sources.dataset_config('folder', str(tmp_path)).labels == labels.camvid_labels()


@pytest.mark.parametrize('name, overrides, message', [
    ('imagenet', {}, 'unknown dataset'),
    ('oxford_pets', {'eval_fraction': 1.5}, r'eval_fraction must be a finite number in \[0, 1\]'),
    ('oxford_pets', {'eval_fraction': 0.6, 'test_fraction': 0.5}, 'leave something'),
    ('oxford_pets', {'num_clases': 3}, r"unknown dataset settings \['num_clases'\]"),
])
def test_bad_settings_are_named(tmp_path, name, overrides, message):
  with pytest.raises(errors.ConfigError, match=message):
    sources.dataset_config(name, str(tmp_path), overrides)


def test_config_file_errors_name_the_file(tmp_path):
  broken = tmp_path / 'broken.json'
  broken.write_text('{"class_names": [')
  with pytest.raises(errors.ConfigError, match='broken.json: not valid JSON'):
    config_lib.load_settings(str(broken))
  with pytest.raises(errors.ConfigError, match='absent.json: cannot read the config file'):
    config_lib.load_settings(str(tmp_path / 'absent.json'))


def test_training_and_release_flags_override_the_config_file(tmp_path):
  from petseg import cli  # pylint: disable=g-import-not-at-top
  settings_file = tmp_path / 'settings.json'
  settings_file.write_text(json.dumps({
      'eval_fraction': 0.25,
      'training': {'model': 'fcn_vgg16', 'epochs': 7, 'optimizer': 'adamw'},
      'release': {'min_mean_iou': 0.5, 'min_class_iou': {'pet': 0.4, 'border': 0.1},
                  'max_class_drop': {'border': 0.1}}}))
  args = cli._parser().parse_args(['run', '--dataset', 'oxford_pets', '--data-dir', 'd',
                                   '--output-dir', 'o', '--config', str(settings_file),
                                   '--epochs', '3', '--min-class-iou', 'pet=0.6',
                                   '--max-mean-iou-drop', '0.05', '--max-slice-drop', '0.03',
                                   '--max-class-drop', 'pet=0.04'])
  settings = cli._from_settings(args, lambda merged: merged)
  assert settings['release'] == {'min_mean_iou': 0.5, 'max_mean_iou_drop': 0.05,
                                 'max_slice_drop': 0.03,
                                 'min_class_iou': {'pet': 0.6, 'border': 0.1},
                                 'max_class_drop': {'pet': 0.04, 'border': 0.1}}
  assert settings['dataset'] == {'eval_fraction': 0.25}
  config = run_config.RunConfig.from_settings('oxford_pets', 'd', settings)
  assert config.dataset.eval_fraction == 0.25
  assert (config.training.model, config.training.epochs, config.training.optimizer) == (
      'fcn_vgg16', 3, 'adamw')
  assert config.training.image_size == (224, 224)  # the model's own default
  assert config.training.num_classes == 3  # from the dataset's labels
  assert config.release.min_class_iou == {'pet': 0.6, 'border': 0.1}
  assert config.release.allowed_drops() == {
      'max_mean_iou_drop': 0.05, 'max_slice_drop': 0.03,
      'max_class_drop': {'pet': 0.04, 'border': 0.1}}


def test_the_config_file_may_hold_a_dataset_section(tmp_path):
  """The run config's fields are the file's sections; top-level dataset keys still work."""
  sectioned = run_config.sections({'dataset': {'eval_fraction': 0.3},
                                   'test_fraction': 0.2, 'training': {'epochs': 2}})
  assert sectioned == {'dataset': {'eval_fraction': 0.3, 'test_fraction': 0.2},
                       'training': {'epochs': 2}, 'release': {}}
  with pytest.raises(errors.ConfigError, match='"training" settings must be a JSON object'):
    run_config.sections({'training': 3})
  assert [f.name for f in dataclasses.fields(run_config.RunConfig)] == list(
      run_config.SECTIONS)


@pytest.mark.parametrize('text', ['pet', '=0.5', 'pet=high'])
def test_class_bounds_must_read_class_equals_number(text, capsys):
  from petseg import cli  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit):
    cli._parser().parse_args(['run', '--dataset', 'oxford_pets', '--data-dir', 'd',
                              '--output-dir', 'o', '--min-class-iou', text])
  assert 'expected CLASS=BOUND, e.g. pet=0.6' in capsys.readouterr().err


def test_a_gate_on_a_class_the_dataset_lacks_fails_before_the_run(tmp_path, capsys):
  from petseg import cli  # pylint: disable=g-import-not-at-top
  assert cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(tmp_path),
                   '--output-dir', str(tmp_path / 'out'), '--min-class-iou', 'cat=0.5']) == 1
  assert "unknown classes ['cat']" in capsys.readouterr().err
  assert not (tmp_path / 'out').exists()
