"""Populations of test images with known figures, for measuring what the release gate
promises (core/bootstrap.py, core/comparison.py): how often its 95% intervals hold the
population's figure, and how often it refuses a model within its allowed drops.

Two generative models of a candidate's and a released model's per-image confusion
matrices, built differently so that a method tuned to one is checked on the other:

- `shaped`: each class's presence and pixel share drawn per image (gamma, as measured on
  Oxford Pets and CamVid), each image's difficulty shared by both models, the missed
  pixels given to the other classes;
- `dirichlet`: image sizes spread over 10x, class shares from a Dirichlet with a 5%
  border class, pixel counts multinomial, each model's recalls on the logit scale with an
  image effect both models share, the errors Dirichlet-multinomial.

tests/test_bootstrap.py asserts on them; bench/gate_coverage.py prints the tables of
docs/statistics.md.
"""
import dataclasses
import functools
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from petseg.components.evaluator import metrics as sm
from petseg.components.evaluator import results as evaluation_results
from petseg.core import bootstrap
from petseg.core import comparison as comparison_lib
from petseg.core import config as config_lib

Pair = Tuple[np.ndarray, np.ndarray]  # candidate's and released model's [n, C, C]


@dataclasses.dataclass(frozen=True)
class Shape:
  """How a population of test images looks for `shaped`: each class's chance of being in
  an image, its mean share of an image's pixels and how evenly that share is spread over
  images (the shape of a gamma distribution: small is skewed, a few images holding most
  of the class), and each class's mean recall under the candidate model."""
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


def shaped(shape: Shape, size: int, seed: int, drop: float = 0.04) -> Pair:
  """`size` images' matrices under two models: each image has its own difficulty, which
  both models share (so their scores are correlated, as two models' are); the released
  model's recalls are `drop` lower."""
  rng = np.random.default_rng(seed)
  c = len(shape.presence)
  present = rng.random((size, c)) < np.asarray(shape.presence)
  present[np.arange(size), rng.integers(0, c, size)] |= ~present.any(1)
  evenness = np.asarray(shape.evenness)
  shares = rng.gamma(evenness, np.asarray(shape.share) / evenness, (size, c)) * present
  truth = np.round(shares / shares.sum(1, keepdims=True) * shape.pixels)
  difficulty = rng.beta(2, 2, size)  # 0 easy .. 1 hard, shared by both models
  models = []
  for lower in (0.0, drop):
    recall = np.clip(np.asarray(shape.recall) - lower
                     + (0.5 - difficulty[:, None]) * 0.5
                     + rng.normal(0, 0.05, (size, c)), 0.02, 0.999)
    # The missed pixels go to the other classes, in proportion to how common they are.
    other = rng.dirichlet(np.asarray(shape.share) * 10 + 0.5, size=(size, c))
    other[:, np.arange(c), np.arange(c)] = 0
    other /= other.sum(-1, keepdims=True)
    matrices = np.round(other * (1 - recall)[..., None] * truth[..., None]).astype(np.int64)
    # The hits are the rest of each class's pixels, so both models share the ground truth.
    matrices[:, np.arange(c), np.arange(c)] = truth.astype(np.int64) - matrices.sum(-1)
    models.append(matrices)
  return models[0], models[1]


def dirichlet(size: int, seed: int, drop: float = 0.3) -> Pair:
  """`size` images' matrices under two models, pet / background / border: pixels
  log-uniform from 4,000 to 40,000, shares Dirichlet (mean 32% / 63% / 5%), recalls
  logistic in a shared image effect (sd 0.8) and each model's own (sd 0.3), the released
  model `drop` lower on the logit scale; the missed pixels spread by a Dirichlet."""
  rng = np.random.default_rng(seed)
  pixels = np.exp(rng.uniform(np.log(4_000), np.log(40_000), size)).astype(np.int64)
  shares = rng.dirichlet((2.85, 5.7, 0.45), size)
  truth = rng.multinomial(pixels, shares)
  effect = rng.normal(0, 0.8, (size, 1))
  models = []
  for lower in (0.0, drop):
    logit = np.log([0.85 / 0.15, 0.92 / 0.08, 0.4 / 0.6]) - lower + effect + rng.normal(
        0, 0.3, (size, 3))
    recall = 1 / (1 + np.exp(-logit))
    hits = rng.binomial(truth, recall)
    # The misses go to the two other classes, split by a Dirichlet(1, 1) draw.
    first = rng.binomial(truth - hits, rng.dirichlet((1.0, 1.0), (size, 3))[..., 0])
    matrices = np.zeros((size, 3, 3), np.int64)
    for c in range(3):
      one, two = [k for k in range(3) if k != c]
      matrices[:, c, c] = hits[:, c]
      matrices[:, c, one] = first[:, c]
      matrices[:, c, two] = truth[:, c] - hits[:, c] - first[:, c]
    models.append(matrices)
  return models[0], models[1]


# Each: (images, seed, drop=its default) -> Pair; drop=0 for two models alike.
GENERATORS: Dict[str, Callable[..., Pair]] = {
    'shaped-oxford': functools.partial(shaped, OXFORD),
    'shaped-camvid': functools.partial(shaped, CAMVID),
    'dirichlet': dirichlet,
}
POPULATION = 5_000  # images in each population a test split is drawn from


def _named(matrices: np.ndarray) -> bootstrap.ImageMatrices:
  return bootstrap.ImageMatrices(tuple(f'{i:06d}' for i in range(len(matrices))), matrices)


def coverage(generator: str, images: int, populations: Sequence[int], trials: int,
             settings: bootstrap.Settings = bootstrap.Settings()) -> Dict[str, List[bool]]:
  """For each population seed, `trials` test splits of `images` images drawn from it:
  whether each 95% interval holds the population's figure. 'mean IoU' and 'difference'
  (the paired mean-IoU difference) count one per split; 'class IoU' one per class the
  gate judges (in at least settings.min_images images, at most `images`)."""
  hits: Dict[str, List[bool]] = {'mean IoU': [], 'class IoU': [], 'difference': []}
  settings = dataclasses.replace(settings, min_images=min(images, settings.min_images))
  for population_seed in populations:
    candidate, baseline = GENERATORS[generator](POPULATION, population_seed)
    truth_c = bootstrap.statistics(candidate.sum(0))
    truth_d = truth_c - bootstrap.statistics(baseline.sum(0))
    c = candidate.shape[1]
    rng = np.random.default_rng(population_seed + 10_000)
    for trial in range(trials):
      pick = rng.integers(0, POPULATION, images)
      cand, _, diff = bootstrap.slice_intervals(
          [_named(candidate[pick]), _named(baseline[pick])],
          dataclasses.replace(settings, seed=trial))
      hits['mean IoU'].append(cand.mean_iou[0] <= truth_c[c] <= cand.mean_iou[1])
      hits['difference'].append(diff.mean_iou[0] <= truth_d[c] <= diff.mean_iou[1])
      hits['class IoU'] += [b[0] <= t <= b[1] for b, t in zip(cand.class_iou, truth_c[:c])
                            if b is not None]
  return hits


def refusals(generator: str, slices: int, images: int, repetitions: int,
             release: config_lib.ReleaseConfig, seed: int = 0, family: bool = True
             ) -> List[bool]:
  """Whether the gate refuses an unchanged model (the candidate and the released model
  drawn alike: no real difference anywhere) in each of `repetitions` test splits of
  `slices` slices of `images` images each, judged as the Evaluator judges them (its
  intervals, its bound over all checks at once, its comparison), with `release`'s drops;
  without the `family` bound, each check on its own 95% interval (the gate before it)."""
  one, other = GENERATORS[generator](POPULATION, seed, drop=0.0)
  rng = np.random.default_rng(seed + 20_000)
  refused = []
  for repetition in range(repetitions):
    # Which model is the candidate is a coin toss on each image: no difference at all,
    # not even the population's own luck.
    swap = rng.random(POPULATION)[:, None, None] < 0.5
    candidate, released = np.where(swap, other, one), np.where(swap, one, other)
    picks = [rng.integers(0, POPULATION, images) for _ in range(slices)]
    scored = {f'breed={s:02d}': _pair(candidate, released, pick) for s, pick in
              enumerate(picks)}
    scored[evaluation_results.OVERALL] = _pair(candidate, released, np.concatenate(picks))
    comparison, _ = _judge(scored, release, repetition, family)
    refused.append(bool(comparison.reasons()))
  return refused


def power(generator: str, images: int, repetitions: int, release: config_lib.ReleaseConfig,
          seed: int = 0) -> Tuple[float, float, List[bool]]:
  """Whether the power the gate states is true: on test splits of `images` images (the
  whole split, no slices), the released model better than the candidate by the drop the
  gate states it refuses 8 times in 10 (the median over 20 splits of a first population,
  then a population made to differ by that much). (The drop stated, the population's
  true mean-IoU drop, whether the mean-IoU check refused each of `repetitions` splits.)"""
  rng = np.random.default_rng(seed + 30_000)

  def stated(pair: Pair, count: int, offset: int) -> Tuple[List[float], List[bool]]:
    drops, refused = [], []
    for repetition in range(count):
      pick = rng.integers(0, POPULATION, images)
      comparison, drawn = _judge({evaluation_results.OVERALL: _pair(*pair, pick)}, release,
                                 offset + repetition, True)
      drops.append(evaluation_results.sensitivity(_metrics(drawn), release.min_slice_images,
                                                  comparison).refused_drop)
      refused.append(not comparison.mean_iou.passed)
    return drops, refused

  def worse(lower: float) -> Pair:
    """The generator's pair with the candidate the lower one."""
    better, lowered = GENERATORS[generator](POPULATION, seed, drop=lower)
    return lowered, better

  def true_drop(pair: Pair) -> float:
    c = pair[0].shape[1]
    return float(bootstrap.statistics(pair[1].sum(0))[c]
                 - bootstrap.statistics(pair[0].sum(0))[c])

  drop = float(np.median(stated(worse(0.0), 20, 0)[0]))
  # The generator's own drop (in recall, or on the logit scale) that makes the population
  # differ by `drop` in mean IoU: bisection, the mean IoU falling as it grows.
  low, high = 0.0, 1.0
  for _ in range(30):
    middle = (low + high) / 2
    if true_drop(worse(middle)) < drop:
      low = middle
    else:
      high = middle
  pair = worse((low + high) / 2)
  return drop, true_drop(pair), stated(pair, repetitions, 1_000)[1]


def _judge(scored: Dict[str, Dict[str, bootstrap.ImageMatrices]],
           release: config_lib.ReleaseConfig, seed: int, family: bool
           ) -> Tuple[comparison_lib.Comparison, Dict]:
  """The comparison the Evaluator decides on `scored` (slice -> model -> matrices), and
  what it drew; without the `family` bound, each check judged on its own interval."""
  classes = scored[evaluation_results.OVERALL][evaluation_results.CANDIDATE].matrices.shape[1]
  class_metrics = [sm.class_iou_name(f'class_{k}') for k in range(classes)]
  drawn = evaluation_results.draw_intervals(
      scored, class_metrics, dataclasses.replace(release.intervals(), seed=seed))
  if not family:
    for entry in drawn[evaluation_results.DIFFERENCE].values():
      for figure in entry.values():
        figure.pop('bound', None)
  family_drawn = drawn.get('family')
  return evaluation_results.compare(
      _metrics(drawn), release.allowed_drops(), release.min_slice_images,
      comparison_lib.Family.from_json(family_drawn) if family_drawn else None), drawn


def _pair(candidate: np.ndarray, released: np.ndarray, pick: np.ndarray
          ) -> Dict[str, bootstrap.ImageMatrices]:
  return {evaluation_results.CANDIDATE: _named(candidate[pick]),
          evaluation_results.BASELINE: _named(released[pick])}


def _metrics(drawn: Dict) -> evaluation_results.Metrics:
  """What evaluation_results.load() gives of an Evaluator run that drew `drawn`."""
  return {model: {slice_: {name: evaluation_results.Estimate(**{
      **entry, 'interval': tuple(entry['interval']) if entry['interval'] else None})
                           for name, entry in figures.items()}
                  for slice_, figures in slices.items()}
          for model, slices in drawn.items() if model != 'family'}
