"""The registry step's verdict on whether a run has anything new to train on
(components/latest_release/), and the settings fingerprint it computes before training:
the one the release record holds after it."""
import json

import pytest

from petseg.components.example_gen import sources
from petseg.components.latest_release import executor as latest
from petseg.core import config as config_lib
from petseg.models import training
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config
from petseg.records import summary as run_summary
from petseg.registry import log as release_log
from tests import helpers

RECORD = helpers.run_summary_of(data_fingerprint='d' * 64, config_fingerprint='s' * 64)


@pytest.mark.parametrize('version, record, data, settings, retrain, nothing_new, line', [
    (None, None, 'd' * 64, 's' * 64, False, False, 'nothing released yet'),
    (3, None, 'd' * 64, 's' * 64, False, False,
     'version 3 has no release record to compare with'),
    (3, RECORD, 'e' * 64, 's' * 64, False, False, 'new since version 3: data'),
    (3, RECORD, 'd' * 64, 't' * 64, False, False, 'new since version 3: settings'),
    (3, RECORD, 'e' * 64, 't' * 64, False, False, 'new since version 3: data and settings'),
    (3, RECORD, 'd' * 64, 's' * 64, False, True,
     'nothing new since version 3: data dddddddddddd, settings ssssssssssss'),
    (3, RECORD, 'd' * 64, 's' * 64, True, False,
     'nothing new since version 3 (data dddddddddddd, settings ssssssssssss), retraining '
     'as asked'),
])
def test_freshness(version, record, data, settings, retrain, nothing_new, line):
  assert latest.Freshness.of(version, record, data, settings, retrain) == latest.Freshness(
      nothing_new, line)


def _properties(tmp_path, **overrides):
  """The registry step's properties in a pipeline built from a run config, as TFX gives
  them to its executor."""
  dataset = sources.dataset_config('oxford_pets', str(tmp_path))
  config = run_config.RunConfig(dataset, training.TrainingConfig.from_settings(
      {'epochs': 3, 'image_size': [64, 64]}, dataset.labels.num_classes),
      config_lib.ReleaseConfig(min_mean_iou=0.2))
  pipeline = pipeline_lib.create_pipeline('p', str(tmp_path / 'root'), str(tmp_path), config,
                                          str(tmp_path / 'serving'))
  node, = [c for c in pipeline.components if c.id == 'LatestRelease']
  return {**{k: v for k, v in node.exec_properties.items()}, **overrides}, config


def test_the_settings_fingerprint_is_the_one_the_trainer_and_evaluator_will_record(tmp_path):
  properties, config = _properties(tmp_path)
  trainer_config = {**config.training.to_json(),
                    'labels': config.dataset.labels.to_json()}
  expected = run_summary.settings_fingerprint(training.recorded(trainer_config),
                                              config.release.to_json())
  assert latest.settings_fingerprint(properties) == expected
  # Every runtime parameter, and every other setting, is in it.
  for name, value in (('epochs', 4), ('learning_rate', 0.5), ('model_name', 'fcn_vgg16'),
                      ('min_mean_iou', 0.3)):
    assert latest.settings_fingerprint({**properties, name: value}) != expected, name
  release = json.loads(properties[latest.RELEASE_KEY])
  for name, value in (('min_slice_images', 7), ('bootstrap_seed', 8),
                      ('bootstrap_resamples', 999)):
    assert latest.settings_fingerprint({**properties, latest.RELEASE_KEY: json.dumps(
        {**release, name: value})}) != expected, name
  assert latest.settings_fingerprint({**properties, latest.RETRAIN: 1}) == expected


def test_the_decision_log_says_nothing_new():
  decision = latest.nothing_new_decision('nothing new since version 3: data d, settings s', 3,
                                         'unet_xception', 'd', 's', 'petseg', 'run-9')
  assert decision.what() == 'nothing new since version 3'
  assert decision.action == release_log.NOTHING_NEW in release_log.ACTIONS
  assert release_log.Decision.from_json(decision.to_json()) == decision
