"""The TFMA metrics, run by TFMA's own Beam evaluation, agree with the NumPy reference."""
import json
import math

import apache_beam as beam
from apache_beam.testing import util as beam_util
import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types

from petseg.components.evaluator import component as evaluator
from petseg.components.evaluator import executor as evaluator_executor
from petseg.components.evaluator import metrics as sm
from petseg.core import config as config_lib
from petseg.core import confusion as confusion_lib
from petseg.core import errors
from petseg.core import labels as labels_lib
from petseg.core.labels import IGNORE_ID

LABELS = labels_lib.class_id_labels(['pet', 'background', 'border', 'absent'])
# Two hand-made 3x4 examples. Class 3 ("absent") is in neither truth nor prediction;
# IGNORE_ID pixels count for nothing, whatever was predicted there.
TRUTHS = [np.array([[0, 0, 1, 1], [0, 2, 1, 1], [IGNORE_ID, 2, 1, 1]]),
          np.array([[1, 1, 1, 1], [0, 0, 2, IGNORE_ID], [0, 0, 2, IGNORE_ID]])]
PREDICTIONS = [np.array([[0, 1, 1, 1], [0, 2, 2, 1], [2, 2, 1, 0]]),
               np.array([[1, 1, 0, 1], [0, 0, 2, 2], [0, 1, 1, 0]])]


def _check_tfma_metrics(config, extracts, check):
  """Runs TFMA's evaluation in Beam; `check` gets {metric name: value} of the whole split
  (inside the pipeline, as Beam's assert_that requires)."""

  def check_overall(results):
    (slice_key, metrics), = results
    assert slice_key == ()
    check({key.name: value for key, value in metrics.items()})

  with beam.Pipeline() as p:
    result = (p | beam.Create(extracts)
              | tfma.ExtractAndEvaluate(
                  extractors=tfma.default_extractors(eval_config=config),
                  evaluators=tfma.default_evaluators(eval_config=config)))
    beam_util.assert_that(result['metrics'], check_overall)


def test_metrics_match_the_numpy_reference_including_an_absent_class():
  config = evaluator.eval_config(LABELS)
  # Extracts come in batches (here of one), as TFMA's predict step makes them.
  names = [f'{i}.png'.encode() for i in range(len(TRUTHS))][::-1]
  extracts = [{'features': {sm.GROUND_TRUTH_KEY: t[np.newaxis],
                            sm.NAME_KEY: np.array([name])},
               'predictions': {sm.PREDICTION_KEY: p[np.newaxis]}}
              for t, p, name in zip(TRUTHS, PREDICTIONS, names)]
  confusion = np.zeros((4, 4), np.int64)
  for t, p in zip(TRUTHS, PREDICTIONS):
    confusion_lib.add(confusion, t, p)
  expected = confusion_lib.scores(confusion, list(LABELS.class_names))
  # By hand: pet 5/9, background 7/13, border 3/5; the absent class is left out.
  assert expected['mean_iou'] == pytest.approx((5 / 9 + 7 / 13 + 3 / 5) / 3)
  assert expected['per_class_iou']['absent'] is None

  def check(got):
    assert got['mean_iou'] == pytest.approx(expected['mean_iou'])
    assert got['pixel_accuracy'] == pytest.approx(expected['pixel_accuracy'])
    for name, value in expected['per_class_iou'].items():
      if value is None:
        assert math.isnan(got[sm.class_iou_name(name)]), name
      else:
        assert got[sm.class_iou_name(name)] == pytest.approx(value), name
    np.testing.assert_array_equal(got['confusion_matrix'], confusion)
    # Each image's matrix, in the order of the names (the reverse of the extracts').
    for matrix, truth, predicted in zip(got[sm.IMAGE_MATRICES], TRUTHS[::-1],
                                        PREDICTIONS[::-1]):
      expected_matrix = np.zeros((4, 4), np.int64)
      confusion_lib.add(expected_matrix, truth, predicted)
      np.testing.assert_array_equal(matrix, expected_matrix)

  _check_tfma_metrics(config, extracts, check)


def test_pure_derivations_on_class_matrices():
  matrices = {0: sm.Matrix(tp=2, tn=0, fp=1, fn=1), 1: sm.Matrix(tp=0, tn=4, fp=0, fn=0)}
  assert sm.iou(matrices[0]) == 0.5
  assert math.isnan(sm.iou(matrices[1]))
  assert sm.mean_iou(matrices) == 0.5
  assert sm.pixel_accuracy(matrices) == pytest.approx(2 / 3)


def _thresholds(config):
  """metric name -> (lower bound, change threshold or None) on the overall slice."""
  out = {}
  for metric in config.metrics_specs[0].metrics:
    for per_slice in metric.per_slice_thresholds:
      assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
      threshold = per_slice.threshold
      name = json.loads(metric.config).get('name', metric.class_name)
      out[name] = (threshold.value_threshold.lower_bound.value,
                   threshold.change_threshold.absolute.value
                   if threshold.HasField('change_threshold') else None)
  return out


def test_the_gate_bounds_mean_iou_and_named_classes_and_keeps_each_images_matrix():
  config = evaluator.eval_config(LABELS, slice_features=['species'])
  assert _thresholds(config) == {}  # the executor sets the gate's, at run time
  evaluator_executor.set_bounds(config, config_lib.ReleaseConfig(
      min_mean_iou=0.5, min_class_iou={'pet': 0.6}, max_mean_iou_drop=0.02))
  # The drop from the released model is the executor's to judge, on intervals.
  assert _thresholds(config) == {'MeanIoU': (0.5, None), 'iou/pet': (0.6, None)}
  # The intervals are the executor's bootstrap over each image's matrix, not TFMA's.
  assert not config.options.compute_confidence_intervals.value
  assert 'ImageConfusionMatrices' in [m.class_name for m in config.metrics_specs[0].metrics]
  assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ['species']]
  spec, = config.model_specs
  assert spec.signature_name == 'serving_examples'
  assert list(spec.preprocessing_function_names) == ['transform_features']
  assert not spec.label_key


@pytest.mark.parametrize('settings, message', [
    ({'min_mean_iou': 1.5}, 'min_mean_iou must be a finite number in'),
    ({'min_class_iou': {'pet': -0.1}}, r'min_class_iou\[pet\]'),
    ({'max_mean_iou_drop': -1}, 'max_mean_iou_drop'),
    ({'max_slice_drop': float('nan')}, 'max_slice_drop'),
    ({'max_class_drop': {'pet': -0.5}}, r'max_class_drop\[pet\]'),
    ({'min_iou': 0.3}, 'unknown release settings'),
])
def test_release_settings_are_checked(settings, message):
  with pytest.raises(errors.ConfigError, match=message):
    config_lib.ReleaseConfig.from_json(settings)


@pytest.mark.parametrize('field', ['min_class_iou', 'max_class_drop'])
def test_a_gate_on_an_unknown_class_names_the_classes(field):
  with pytest.raises(errors.ConfigError, match=f"{field} names unknown classes.*'cat'.*pet"):
    config_lib.ReleaseConfig(**{field: {'cat': 0.5}}).check_classes(LABELS)


def test_metric_keys_have_no_sub_key_so_they_can_be_gated():
  metric = sm.ClassIoU(class_ids=[0, 1], class_id=1, name='iou/background')
  keys = [k for c in metric.computations() for k in c.keys]
  assert metric_types.MetricKey(name='iou/background') in keys
