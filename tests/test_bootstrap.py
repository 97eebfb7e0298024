"""The release gate's intervals (core/bootstrap.py): in range, repeatable, and covering.

Coverage is checked by simulation: a known population of per-image confusion matrices (an
Oxford-Pets-like 3-class shape and an 11-class CamVid-like shape with rare classes),
many test splits drawn from it, and the share of nominal 95% intervals that hold the
population's figure. `python tests/test_bootstrap.py` prints the table in the README.
"""
import dataclasses
import sys
from typing import Dict, List, Sequence

import numpy as np
import pytest

from petseg.core import bootstrap
from petseg.models import scoring


@dataclasses.dataclass(frozen=True)
class Shape:
  """How a population of test images looks: each class's chance of being in an image, its
  mean share of an image's pixels and how evenly that share is spread over images (the
  shape of a gamma distribution: small is skewed, a few images holding most of the
  class), and each class's mean recall under the candidate model."""
  name: str
  presence: Sequence[float]
  share: Sequence[float]
  evenness: Sequence[float]
  recall: Sequence[float]
  pixels: int = 160 * 160


OXFORD = Shape('Oxford-like (3 classes)', presence=(1.0, 1.0, 1.0), share=(0.3, 0.6, 0.1),
               evenness=(3.0, 5.0, 3.0), recall=(0.85, 0.9, 0.45))
# Presence, share and evenness as measured on the 468 CamVid masks in ../shared/data
# (sign symbol, pedestrian and bicyclist hold under 1.2% of the pixels; fence, pedestrian
# and bicyclist are missing from 35-41% of the images).
CAMVID = Shape('CamVid-like (11 classes, rare ones)',
               presence=(1, 1, 1, 1, 0.96, 0.9, 0.97, 0.59, 0.99, 0.89, 0.65),
               share=(0.158, 0.246, 0.009, 0.322, 0.056, 0.115, 0.012, 0.016, 0.052, 0.007,
                      0.007),
               evenness=(4.7, 3.6, 1.6, 22.8, 2.3, 1.7, 0.5, 0.5, 0.8, 0.7, 0.4),
               recall=(0.8, 0.9, 0.3, 0.95, 0.7, 0.85, 0.4, 0.6, 0.5, 0.3, 0.5),
               pixels=360 * 480)


def population(shape: Shape, size: int, seed: int) -> List[np.ndarray]:
  """[size, C, C] confusion matrices of a candidate and a baseline model on the same
  images: each image has its own difficulty, which both models share (so their scores are
  correlated, as two models' are); the baseline is a little worse."""
  rng = np.random.default_rng(seed)
  c = len(shape.presence)
  present = rng.random((size, c)) < np.asarray(shape.presence)
  present[np.arange(size), rng.integers(0, c, size)] |= ~present.any(1)
  evenness = np.asarray(shape.evenness)
  shares = rng.gamma(evenness, np.asarray(shape.share) / evenness, (size, c)) * present
  truth = np.round(shares / shares.sum(1, keepdims=True) * shape.pixels)
  difficulty = rng.beta(2, 2, size)  # 0 easy .. 1 hard, shared by both models
  models = []
  for drop in (0.0, 0.04):
    recall = np.clip(np.asarray(shape.recall) - drop
                     + (0.5 - difficulty[:, None]) * 0.5
                     + rng.normal(0, 0.05, (size, c)), 0.02, 0.999)
    # The missed pixels go to the other classes, in proportion to how common they are.
    other = rng.dirichlet(np.asarray(shape.share) * 10 + 0.5, size=(size, c))
    other[:, np.arange(c), np.arange(c)] = 0
    other /= other.sum(-1, keepdims=True)
    rows = other * (1 - recall)[..., None]
    rows[:, np.arange(c), np.arange(c)] = recall
    models.append(np.round(rows * truth[..., None]).astype(np.int64))
  return models


def coverage(shape: Shape, images: int, trials: int, resamples: int = 1000,
             seed: int = 1) -> Dict[str, float]:
  """The share of `trials` test splits of `images` images whose 95% interval holds the
  population's figure: for the mean IoU, the class IoUs (pooled over the classes the gate
  would judge: those in at least min(images, DEFAULT_MIN_IMAGES) of the images) and the
  paired difference of mean IoU."""
  candidate, baseline = population(shape, 20_000, seed)
  truth_c = bootstrap.statistics(candidate.sum(0))
  truth_d = truth_c - bootstrap.statistics(baseline.sum(0))
  c = candidate.shape[1]
  rng = np.random.default_rng(seed + 1)
  hits = {'mean IoU': [], 'class IoU': [], 'difference': []}
  for trial in range(trials):
    pick = rng.integers(0, len(candidate), images)
    cand, base, diff = bootstrap.slice_intervals(
        [candidate[pick], baseline[pick]],
        bootstrap.Settings(min(images, bootstrap.DEFAULT_MIN_IMAGES), resamples, seed=trial))
    hits['mean IoU'].append(cand.mean_iou[0] <= truth_c[c] <= cand.mean_iou[1])
    hits['difference'].append(diff.mean_iou[0] <= truth_d[c] <= diff.mean_iou[1])
    hits['class IoU'] += [b[0] <= t <= b[1] for b, t in zip(cand.class_iou, truth_c[:c])
                          if b is not None]
  return {k: float(np.mean(v)) for k, v in hits.items()}


@pytest.mark.parametrize('shape', [OXFORD, CAMVID], ids=['oxford', 'camvid'])
@pytest.mark.parametrize('images', [300, bootstrap.DEFAULT_MIN_IMAGES])
def test_intervals_cover_the_population_at_the_nominal_rate(shape, images):
  for figure, rate in coverage(shape, images, trials=400).items():
    assert 0.92 <= rate <= 0.98, (figure, rate)


def test_bounds_lie_in_the_metrics_range_and_repeat_bit_for_bit():
  # A tiny, skewed split: 4 images, one of which alone holds class 2.
  candidate, baseline = population(CAMVID, 4, seed=3)
  first = bootstrap.slice_intervals([candidate, baseline], bootstrap.Settings(1))
  again = bootstrap.slice_intervals([candidate, baseline], bootstrap.Settings(1))
  assert first == again
  for intervals, low in zip(first, (0, 0, -1)):
    for bounds in (*intervals.class_iou, intervals.mean_iou, intervals.pixel_accuracy):
      if bounds:
        assert low <= bounds[0] <= bounds[1] <= 1


def test_figures_on_too_few_images_get_no_interval():
  candidate, baseline = population(CAMVID, 12, seed=4)
  cand, _, diff = bootstrap.slice_intervals([candidate, baseline], bootstrap.Settings(13))
  assert cand.images == 12 and cand.mean_iou is None and diff.mean_iou is None
  cand, = bootstrap.slice_intervals([candidate], bootstrap.Settings(10))
  assert cand.mean_iou is not None
  rare = [i for i, n in enumerate(cand.class_images) if n < 10]
  assert rare and all(cand.class_iou[i] is None for i in rare)


def test_statistics_follow_the_numpy_reference():
  from petseg.core import confusion
  matrix = population(OXFORD, 7, seed=5)[0].sum(0)
  scores = confusion.scores(matrix)
  stats = bootstrap.statistics(matrix)
  assert stats[:3].tolist() == pytest.approx(list(scores['per_class_iou'].values()))
  assert stats[3] == pytest.approx(scores['mean_iou'])
  assert stats[4] == pytest.approx(scores['pixel_accuracy'])


def test_the_order_is_the_names_whatever_order_the_images_came_in():
  matrices = population(OXFORD, 5, seed=6)[0]
  names = ['e', 'b', 'a', 'd', 'c']
  shuffled = [4, 0, 2, 1, 3]
  first = bootstrap.sorted_by_name(names, list(matrices))
  again = bootstrap.sorted_by_name([names[i] for i in shuffled],
                                   [matrices[i] for i in shuffled])
  np.testing.assert_array_equal(first, again)
  np.testing.assert_array_equal(first[0], matrices[2])


if __name__ == '__main__':
  sizes = [int(s) for s in sys.argv[1:]] or [10, 20, 30, 50, 100, 300]
  print('| shape | images | mean IoU | class IoU | paired difference |')
  print('| --- | ---: | ---: | ---: | ---: |')
  for shape in (OXFORD, CAMVID):
    for size in sizes:
      rates = coverage(shape, size, trials=1000)
      print(f'| {shape.name} | {size} | ' + ' | '.join(
          f'{rates[k]:.1%}' for k in ('mean IoU', 'class IoU', 'difference')) + ' |')


def test_scored_models_get_the_gates_intervals_paired_by_image_name():
  """models/scoring.py, for `petseg evaluate` and the benches: the same intervals as the
  gate's for the same images, as JSON; models scored on other images are refused."""
  candidate, baseline = population(OXFORD, 50, seed=5)
  names = tuple(f'image_{i:02d}.jpg' for i in range(50))
  scored = [scoring.ImageMatrices(names, m) for m in (candidate, baseline)]
  ours, _, difference = scoring.intervals(scored, ['pet', 'background', 'border'])
  cand, _, diff = bootstrap.slice_intervals([candidate, baseline])
  assert ours['images'] == 50
  assert ours['mean_iou'] == [round(b, 4) for b in cand.mean_iou]
  assert difference['per_class_iou']['border'] == [round(b, 4) for b in diff.class_iou[2]]
  other = scoring.ImageMatrices(names[1:] + ('another.jpg',), baseline)
  with pytest.raises(ValueError, match='different images'):
    scoring.intervals([scored[0], other], ['pet', 'background', 'border'])
