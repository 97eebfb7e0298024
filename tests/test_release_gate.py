"""The release gate's comparison with the released model: the bootstrap's intervals over the
test images (the Evaluator's EvalConfig, run by TFMA's own Beam evaluation and writers,
then the intervals drawn from its per-image matrices), paired between the two models,
read back and decided as the Evaluator does."""
from typing import NamedTuple, Optional

import apache_beam as beam
import numpy as np
import pytest
import tensorflow_model_analysis as tfma

from petseg.components.evaluator import component as evaluator
from petseg.components.evaluator import executor as evaluator_executor
from petseg.components.evaluator import metrics as sm
from petseg.components.evaluator import results as evaluation_results
from petseg.core import bootstrap
from petseg.core import comparison as comparison_lib
from petseg.core import config as config_lib
from petseg.core import confusion as confusion_lib
from petseg.core import labels as labels_lib

LABELS = labels_lib.class_id_labels(['pet', 'background', 'border'])
SIZE = 16  # pixels a side


def _truths(count: int, seed: int = 0):
  """`count` class maps: a pet square on background with a border ring, of random size
  and place, and the species of each (alternating)."""
  rng = np.random.default_rng(seed)
  truths = []
  for _ in range(count):
    truth = np.ones((SIZE, SIZE), np.int64)
    side = rng.integers(4, 12)
    top, left = rng.integers(1, SIZE - side, size=2)
    truth[top - 1:top + side + 1, left - 1:left + side + 1] = 2
    truth[top:top + side, left:left + side] = 0
    truths.append(truth)
  return truths, [b'cat' if i % 2 else b'dog' for i in range(count)]


def _predict(truths, rates, seed: int):
  """Each truth with a random share of its pixels (its own rate, from `rates`) given
  another class."""
  rng = np.random.default_rng(seed)
  return [np.where(rng.random(t.shape) < rate, (t + rng.integers(1, 3, t.shape)) % 3, t)
          for t, rate in zip(truths, rates)]


def _rates(count: int, seed: int):
  """Error rates that differ from image to image, as a model's do: some images are hard."""
  return np.random.default_rng(seed).uniform(0, 0.6, count)


RELEASE = config_lib.ReleaseConfig(min_mean_iou=0.0)


def _evaluate(tmp_path, truths, species, candidate, baseline=None, workers=1, order=None,
              baseline_truths=None):
  """TFMA's evaluation of the predictions (and the baseline's, on the same examples) as
  the Evaluator configures it, with the intervals the Evaluator draws, written and read
  back: with Beam's `workers` (the DirectRunner's threads; one runs in memory, as the
  pipeline does), examples in `order`. With `baseline_truths`, each model has its own
  masks, as each model's `transform_features` gives them at its own size."""
  release = RELEASE
  gated = evaluator.eval_config(LABELS, slice_features=['species'])
  evaluator_executor.set_bounds(gated, release)
  config = tfma.utils.update_eval_config_with_defaults(gated,
                                                       has_baseline=baseline is not None)
  extracts = []
  for i, truth in enumerate(truths):
    predictions = {sm.PREDICTION_KEY: candidate[i][np.newaxis]}
    if baseline is not None:
      predictions = {tfma.CANDIDATE_KEY: predictions,
                     tfma.BASELINE_KEY: {sm.PREDICTION_KEY: baseline[i][np.newaxis]}}
    features = {'species': np.array([species[i]]),
                sm.NAME_KEY: np.array([f'image_{i:04d}.jpg'.encode()])}
    extract = {'features': {sm.GROUND_TRUTH_KEY: truth[np.newaxis], **features},
               'predictions': predictions}
    if baseline_truths is not None:
      extract = {'features': features, 'predictions': predictions, 'transformed_features': {
          tfma.CANDIDATE_KEY: {sm.GROUND_TRUTH_KEY: truth[np.newaxis]},
          tfma.BASELINE_KEY: {sm.GROUND_TRUTH_KEY: baseline_truths[i][np.newaxis]}}}
    extracts.append(extract)
  if order is not None:
    extracts = [extracts[i] for i in order]
  output = str(tmp_path / f'evaluation-{len(list(tmp_path.iterdir()))}')
  options = beam.options.pipeline_options.PipelineOptions(
      direct_num_workers=workers,
      direct_running_mode='in_memory' if workers == 1 else 'multi_threading')
  with beam.Pipeline(options=options) as p:
    _ = (p | beam.Create(extracts)
         | tfma.ExtractAndEvaluate(extractors=tfma.default_extractors(eval_config=config),
                                   evaluators=tfma.default_evaluators(eval_config=config))
         | tfma.WriteResults(writers=tfma.default_writers(output, eval_config=config)))
  evaluation_results.write_intervals(output, config, release.intervals())
  return Evaluated(evaluation_results.load(output), evaluation_results.read_family(output))


class Evaluated(NamedTuple):
  metrics: evaluation_results.Metrics
  family: Optional[comparison_lib.Family]


def _compare(evaluated: Evaluated, **drops):
  allowed = {**RELEASE.allowed_drops(), **drops}
  return evaluation_results.compare(evaluated.metrics, allowed, RELEASE.min_slice_images,
                                    evaluated.family)


def test_every_figure_has_a_95_percent_interval_around_it(tmp_path):
  truths, species = _truths(80)
  metrics = _evaluate(tmp_path, truths, species,
                      _predict(truths, _rates(80, 1), seed=1)).metrics
  for slice_name in ('overall', 'species=cat', 'species=dog'):
    for name in (sm.MEAN_IOU, sm.PIXEL_ACCURACY, *map(sm.class_iou_name, LABELS.class_names)):
      estimate = metrics['candidate'][slice_name][name]
      low, high = estimate.interval
      assert 0 <= low < estimate.value < high <= 1, (slice_name, name)
      assert estimate.images == (80 if slice_name == 'overall' else 40)


def test_a_model_compared_with_itself_is_no_detectable_change_and_passes(tmp_path):
  truths, species = _truths(40)
  predictions = _predict(truths, _rates(40, 1), seed=1)
  evaluated = _evaluate(tmp_path, truths, species, predictions, predictions)
  comparison = _compare(evaluated)
  assert comparison.verdict == comparison_lib.NO_CHANGE
  assert comparison.mean_iou.difference == 0 and comparison.mean_iou.interval == (0, 0)
  assert comparison.reasons() == []
  # Nothing can differ, so no power is stated.
  sensitivity = evaluation_results.sensitivity(evaluated.metrics, 40, comparison)
  assert sensitivity.refused_drop is None and 'refused' not in sensitivity.sentence()
  assert {(d.slice, d.metric) for d in comparison.checks} >= {
      ('overall', 'mean_iou'), ('species=cat', 'mean_iou'), ('species=dog', 'iou/border')}


def test_equally_good_models_differ_by_noise_and_pass_where_a_point_estimate_would_not(
    tmp_path):
  """Two models with the same spread of errors over the images: the point difference is
  beyond the allowed 0.01, the interval holds 0."""
  truths, species = _truths(40)
  one = _predict(truths, _rates(40, 1), seed=1)
  for seed in range(2, 20):
    comparison = _compare(_evaluate(tmp_path, truths, species, one,
                                    _predict(truths, _rates(40, seed), seed=seed)))
    if 0.01 < -comparison.mean_iou.difference < 0.04:
      break
  else:
    pytest.fail('no draw was worse by 0.01 to 0.04')
  assert comparison.verdict == comparison_lib.NO_CHANGE, comparison.mean_iou
  assert comparison.mean_iou.passed


@pytest.fixture(scope='module')
def worse_on_cats(tmp_path_factory):
  """The metrics of a model as good as the released one on dogs (the same predictions)
  and worse on cats."""
  count = 80
  truths, species = _truths(count)
  released = _predict(truths, [0.05] * count, seed=1)
  degraded = _predict(truths, [0.3] * count, seed=2)
  candidate = [d if s == b'cat' else r for d, r, s in zip(degraded, released, species)]
  return _evaluate(tmp_path_factory.mktemp('cats'), truths, species, candidate, released)


def test_the_power_stated_is_the_drop_its_bound_refuses_8_times_in_10(worse_on_cats):
  comparison = _compare(worse_on_cats)
  family, mean_iou = comparison.family, comparison.mean_iou
  assert family.error_rate == 0.05 and family.checks == len(
      [c for c in comparison.checks if c.judged and c.spread])
  # The mean IoU's difference estimate, spread by its standard error, lands below minus
  # the allowed drop beyond the bound's critical value 8 times in 10.
  critical = bootstrap.for_images(family.critical_value, mean_iou.images)
  refused = evaluation_results.sensitivity(worse_on_cats.metrics, 40, comparison).refused_drop
  assert refused == pytest.approx(0.01 + (critical + 0.8416) * mean_iou.spread, abs=1e-4)
  assert mean_iou.bound == pytest.approx(mean_iou.difference + critical * mean_iou.spread)


def test_a_model_worse_only_on_cats_is_refused_naming_that_slice(worse_on_cats):
  comparison = _compare(worse_on_cats, max_mean_iou_drop=0.5)
  assert comparison.verdict == comparison_lib.WORSE and comparison.mean_iou.passed
  reasons = comparison.reasons()
  assert any(r.startswith('mean_iou on species=cat is ') for r in reasons), reasons
  assert not any('species=dog' in r for r in reasons), reasons
  dogs = next(d for d in comparison.checks if (d.slice, d.metric) == ('species=dog', 'mean_iou'))
  assert dogs.passed and dogs.verdict == comparison_lib.NO_CHANGE


def test_a_class_may_be_allowed_a_drop_of_its_own(worse_on_cats):
  strict, lenient = ({(d.slice, d.metric) for d in _compare(
      worse_on_cats, max_mean_iou_drop=0.5, max_class_drop=drops).checks if not d.passed}
                     for drops in ({}, {'border': 1.0}))
  assert {('species=cat', 'iou/border'), ('species=cat', 'mean_iou')} <= strict
  assert lenient == strict - {('species=cat', 'iou/border'), ('overall', 'iou/border')}


def test_intervals_shrink_as_the_test_split_grows(tmp_path):
  widths = []
  for count in (40, 640):
    truths, species = _truths(count, seed=count)
    metrics = _evaluate(tmp_path, truths, species,
                        _predict(truths, _rates(count, 1), seed=1)).metrics
    low, high = metrics['candidate']['overall'][sm.MEAN_IOU].interval
    widths.append(high - low)
  # About a quarter (1/sqrt(16)); the bootstrap's own noise leaves a margin.
  assert widths[1] < widths[0] / 2, widths


def test_a_check_on_too_few_images_is_listed_not_decided():
  few = comparison_lib.Difference('species=cat', 'mean_iou', 0.5, 0.6, -0.1, (-0.2, -0.03),
                                  0.02, images=12, min_images=30)
  assert few.verdict == 'too few images to judge (n=12)' and few.passed and not few.judged
  noisy = comparison_lib.Difference('overall', 'mean_iou', 0.5, 0.6, -0.1, (-0.2, 0.01), 0.01,
                                    images=300, min_images=30)
  assert noisy.verdict == comparison_lib.NO_CHANGE and noisy.passed
  beyond = comparison_lib.Difference('overall', 'mean_iou', 0.5, 0.6, -0.1, (-0.2, -0.03),
                                     0.01, images=300, min_images=30)
  assert not beyond.passed and beyond.reason() == (
      "mean_iou is 0.100 below the released model's (95% interval of the drop 0.030 to "
      '0.200), more than the allowed drop of 0.010')
  comparison = comparison_lib.Comparison(noisy, (few,), {})
  assert comparison.not_judged() == ['mean_iou on species=cat: too few images to judge (n=12)']
  assert comparison.reasons() == []


def test_a_check_is_judged_on_its_bound_over_all_checks_which_the_record_states():
  family = comparison_lib.Family(error_rate=0.05, checks=12, critical_value=2.9)
  assert family.sentence() == ('a model within its allowed drops is refused at most 5% of '
                               'the time over all 12 checks at once')
  beyond = comparison_lib.Difference('overall', 'mean_iou', 0.5, 0.6, -0.1, (-0.2, -0.03),
                                     0.01, 300, 30, spread=0.02, bound=-0.042)
  assert not beyond.passed and beyond.reason() == (
      "mean_iou is 0.100 below the released model's (95% interval of the drop 0.030 to "
      '0.200; over all checks at once, a drop of at least 0.042), more than the allowed '
      'drop of 0.010')
  # Its own interval lies beyond the allowed drop; over all checks at once, it does not.
  within = comparison_lib.Difference('species=cat', 'iou/pet', 0.5, 0.53, -0.03,
                                     (-0.05, -0.012), 0.01, 60, 30, spread=0.01, bound=-0.001)
  assert within.verdict == comparison_lib.WORSE and within.passed
  comparison = comparison_lib.Comparison(beyond, (within,), {'max_mean_iou_drop': 0.01},
                                         family)
  assert comparison_lib.Comparison.from_json(comparison.to_json()) == comparison
  assert comparison.to_json()['family'] == {'error_rate': 0.05, 'checks': 12,
                                            'critical_value': 2.9}


def test_small_slices_say_too_few_images_and_no_bound_leaves_its_range(tmp_path):
  """A split of 40 with 20 cats and 20 dogs, one cat alone holding class 'border'."""
  truths, species = _truths(40, seed=7)
  for i, truth in enumerate(truths):
    if i != 1:
      truth[truth == 2] = 1  # no border but on image 1, a cat
  baseline = _predict(truths, _rates(40, 2), seed=2)
  evaluated = _evaluate(tmp_path, truths, species, _predict(truths, _rates(40, 1), seed=1),
                        baseline)
  metrics = evaluated.metrics
  for model in ('candidate', 'baseline', 'difference'):
    for slice_, figures in metrics[model].items():
      for name, estimate in figures.items():
        if estimate.interval:
          low = -1 if model == 'difference' else 0
          assert low <= estimate.interval[0] <= estimate.interval[1] <= 1, (model, name)
  cats = metrics['candidate']['species=cat']
  assert cats[sm.MEAN_IOU].images == 20 and cats[sm.MEAN_IOU].interval is None
  assert cats['iou/border'].images == 1 and cats['iou/border'].interval is None
  assert metrics['candidate']['overall'][sm.MEAN_IOU].interval is not None
  comparison = _compare(evaluated)
  assert 'mean_iou on species=cat: too few images to judge (n=20)' in comparison.not_judged()
  assert 'iou/border: too few images to judge (n=1)' in comparison.not_judged()


def test_two_evaluations_give_the_same_intervals_bit_for_bit_whatever_the_runner(tmp_path):
  """The same models on the same examples: in another order, on 2 workers instead of 1."""
  truths, species = _truths(64, seed=3)
  candidate = _predict(truths, _rates(64, 1), seed=1)
  baseline = _predict(truths, _rates(64, 2), seed=2)
  first = _evaluate(tmp_path, truths, species, candidate, baseline)
  again = _evaluate(tmp_path, truths, species, candidate, baseline, workers=2,
                    order=np.random.default_rng(0).permutation(64))
  assert first == again
  assert _compare(first).to_json() == _compare(again).to_json()


def test_a_baseline_trained_at_another_size_is_scored_on_the_candidates_masks(tmp_path):
  """The released model was trained at half the size: its own masks and class maps are
  8x8. The gate scores its maps, resized, against the candidate's 16x16 masks, so both
  models are paired on the same ground truth."""
  truths, species = _truths(40)
  candidate = _predict(truths, _rates(40, 1), seed=1)
  released = _predict(truths, _rates(40, 2), seed=2)
  evaluated = _evaluate(tmp_path, truths, species, candidate,
                        [p[::2, ::2] for p in released],
                        baseline_truths=[t[::2, ::2] for t in truths])
  upsampled = [np.repeat(np.repeat(p[::2, ::2], 2, 0), 2, 1) for p in released]
  matrix = np.zeros((3, 3), np.int64)
  for truth, predicted in zip(truths, upsampled):
    confusion_lib.add(matrix, truth, predicted)
  expected = confusion_lib.scores(matrix)['mean_iou']
  overall = {m: evaluated.metrics[m]['overall'][sm.MEAN_IOU]
             for m in ('candidate', 'baseline', 'difference')}
  assert overall['baseline'].value == pytest.approx(expected)
  assert overall['difference'].value == pytest.approx(
      overall['candidate'].value - overall['baseline'].value)
  assert overall['difference'].interval is not None
