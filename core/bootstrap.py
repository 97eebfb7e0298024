"""95% intervals of segmentation metrics and the release gate's bound: a bootstrap over
test images.

IoU is a ratio of pixel sums over images, so its uncertainty comes from which images
happen to be in the test split. Each test image's confusion matrix is kept with its name
(ImageMatrices); a replicate draws as many images with replacement, sums their matrices
and computes every figure from the sum, with its standard error (the delta method: each
image's influence on the ratio). The interval is the symmetric studentized
(bootstrap-t) one, clipped to the figure's range: [0, 1] for a value, [-1, 1] for a
difference.

Two models are paired image by image, by name and against the same ground truth
(paired()), and resampled with the same draws, so the interval of their difference is
paired: the luck of the draw cancels. The draws come from a seeded generator and depend
only on the number of images, so the same models on the same examples give the same
intervals bit for bit.

The gate's checks share one bound (critical_value(), for_images()): each difference is at
most its point plus a critical value in standard errors, for all checks at once, with
probability 1 - error_rate. refused_drop() states the gate's power from it.

A figure that rests on fewer than `min_images` images (a slice's, or those holding a
class) gets no interval. docs/statistics.md gives the methods measured side by side
(bench/gate_coverage.py) and why these were chosen.
"""
import dataclasses
import statistics as statistics_lib
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats as scipy_stats

from petseg.core import errors

CONFIDENCE = 0.95
SYMMETRIC_T = 'symmetric-t'
STUDENTIZED = 'studentized'
BCA = 'bca'
METHODS = (SYMMETRIC_T, STUDENTIZED, BCA)  # measured side by side: bench/gate_coverage.py
DEFAULT_METHOD = SYMMETRIC_T
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_ERROR_RATE = 0.05  # the chance that a model within its allowed drops is refused
# The fewest images a figure is judged on: ReleaseConfig.min_slice_images defaults to it.
# docs/statistics.md gives the coverage measured there.
DEFAULT_MIN_IMAGES = 40
_CHUNK = 1000  # the most replicates drawn at a time

Interval = Tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Settings:
  """How the gate's intervals and its bound over all checks are drawn
  (ReleaseConfig.intervals()); `method` is measured against the others in
  bench/gate_coverage.py."""
  min_images: int = DEFAULT_MIN_IMAGES
  resamples: int = DEFAULT_RESAMPLES
  seed: int = DEFAULT_SEED
  error_rate: float = DEFAULT_ERROR_RATE
  method: str = DEFAULT_METHOD  # one of METHODS


def statistics(confusions: np.ndarray) -> np.ndarray:
  """[..., C, C] confusion matrices (rows true, columns predicted) -> [..., C + 2]: each
  class's IoU, the mean IoU and the pixel accuracy. A class absent from both truth and
  prediction has no IoU (NaN) and the mean leaves it out, as core/confusion.py does."""
  confusions = np.asarray(confusions, np.float64)
  tp = np.diagonal(confusions, axis1=-2, axis2=-1)
  union = confusions.sum(-1) + confusions.sum(-2) - tp
  with np.errstate(invalid='ignore', divide='ignore'):
    iou = np.where(union > 0, tp / union, np.nan)
    present = (union > 0).sum(-1)
    mean = np.where(present > 0, np.nansum(iou, -1) / np.maximum(present, 1), np.nan)
    total = confusions.sum((-2, -1))
    accuracy = np.where(total > 0, tp.sum(-1) / total, np.nan)
  return np.concatenate([iou, mean[..., None], accuracy[..., None]], -1)


class UnpairedImages(errors.DataError, ValueError):
  """Two models' image matrices that cannot be paired image by image: said in one line."""


@dataclasses.dataclass(frozen=True)
class ImageMatrices:
  """A model's [true class, predicted class] pixel counts on each test image, [n, C, C],
  with the images' names, in the order of the names (then of their ground truth: class
  pixel counts): an order no runner can change. Build it with of()."""
  names: Tuple[str, ...]
  matrices: np.ndarray

  @classmethod
  def of(cls, names: Sequence[str], matrices: Sequence[np.ndarray],
         num_classes: int) -> 'ImageMatrices':
    keys = [(str(name), tuple(np.asarray(m).sum(1).tolist()))
            for name, m in zip(names, matrices)]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return cls(tuple(keys[i][0] for i in order), np.asarray(
        [matrices[i] for i in order], np.int64).reshape(len(order), num_classes, num_classes))

  @property
  def confusion(self) -> np.ndarray:
    return self.matrices.sum(0)

  @property
  def truths(self) -> np.ndarray:
    """[n, C]: each image's ground-truth pixels of each class (scored pixels only)."""
    return self.matrices.sum(-1)


def _listed(names: Sequence[str], first: int = 3) -> str:
  return ', '.join(names[:first]) + (f' and {len(names) - first} more' if len(names) > first
                                     else '')


def paired(models: Sequence[ImageMatrices]) -> List[np.ndarray]:
  """The models' [n, C, C] matrices joined by image name, in the first's order: image i
  of each is the same image, against the same ground truth. Raises UnpairedImages, in one
  line, for a name given twice, image sets that differ, or an image whose ground truth
  differs between the models (scored at another size, or against another mask)."""
  first, *others = models
  result = [first.matrices]
  for scored in models:
    if len(set(scored.names)) != len(scored.names):
      twice = sorted({n for n in scored.names if scored.names.count(n) > 1})
      raise UnpairedImages(f'test images named twice cannot be paired: {_listed(twice)}')
  for other in others:
    only_first = sorted(set(first.names) - set(other.names))
    only_other = sorted(set(other.names) - set(first.names))
    if only_first or only_other:
      raise UnpairedImages(
          f'the models were scored on different test images ({len(first.names)} against '
          f'{len(other.names)}): ' + '; '.join(
              f'{len(names)} only in the {which} ({_listed(names)})'
              for which, names in (('first', only_first), ('second', only_other)) if names))
    position = {name: i for i, name in enumerate(other.names)}
    matrices = other.matrices[[position[name] for name in first.names]]
    differs = np.flatnonzero((matrices.sum(-1) != first.truths).any(-1))
    if differs.size:
      i = differs[0]
      raise UnpairedImages(
          f'{len(differs)} test images have other ground truth in the second model\'s '
          f'scoring (first: {first.names[i]}, {int(first.truths[i].sum())} scored pixels '
          f'against {int(matrices[i].sum())}): both must be scored on the same masks')
    result.append(matrices)
  return result


@dataclasses.dataclass(frozen=True)
class Series:
  """The bootstrap of one model's figures (or of two models' difference): statistics()'
  columns [K] on the whole split (`point`) with their standard errors, and the same in
  each replicate ([resamples, K]; NaN where a figure has no value)."""
  point: np.ndarray
  error: np.ndarray
  values: np.ndarray
  errors: np.ndarray


@dataclasses.dataclass(frozen=True)
class _Parts:
  """What each image adds to the sums the figures are ratios of: [n, C] true positives
  and unions, [n] hits and labelled pixels."""
  tp: np.ndarray
  union: np.ndarray
  hits: np.ndarray
  labelled: np.ndarray

  @classmethod
  def of(cls, matrices: np.ndarray) -> '_Parts':
    tp = np.diagonal(matrices, axis1=-2, axis2=-1).astype(np.float64)
    return cls(tp, matrices.sum(-1) + matrices.sum(-2) - tp, tp.sum(-1),
               matrices.sum((-2, -1)).astype(np.float64))


def _influences(parts: _Parts, weights: np.ndarray) -> np.ndarray:
  """Each image's influence on each of statistics()' figures, in each weighting of the
  images ([k, n] counts): [k, n, C + 2]. A ratio of sums R = sum(w a) / sum(w b) moves
  by (a_i - R b_i) / mean(w b) per unit of image i's weight (the delta method), so its
  standard error is sqrt(sum(w L^2)) / n; the mean IoU's influence is the mean of its
  classes' (those present), the pixel accuracy's that of hits over labelled pixels."""
  n = weights.sum(-1)[:, None, None]  # [k, 1, 1]
  tp_total, union_total = weights @ parts.tp, weights @ parts.union
  present = union_total > 0
  with np.errstate(invalid='ignore', divide='ignore'):
    ratio = np.where(present, tp_total / union_total, 0)[:, None, :]
    scale = np.where(present, n[:, 0] / union_total, 0)[:, None, :]
    classes = (parts.tp - ratio * parts.union) * scale
    mean = classes.sum(-1) / np.maximum(present.sum(-1), 1)[:, None]
    hit_total, labelled_total = weights @ parts.hits, weights @ parts.labelled
    accuracy = ((parts.hits - (hit_total / labelled_total)[:, None] * parts.labelled)
                * (n[:, 0] / labelled_total[:, None]))
  return np.concatenate([classes, mean[..., None], np.nan_to_num(accuracy)[..., None]], -1)


def _errors(influences: np.ndarray, weights: np.ndarray) -> np.ndarray:
  """The standard error of each figure from its images' influences: [k, C + 2]."""
  n = weights.sum(-1, keepdims=True)
  return np.sqrt(np.einsum('kn,knj->kj', weights, influences ** 2)) / n


def _weights(n: int, resamples: int, seed: int, chunk: int) -> Iterator[np.ndarray]:
  """The draws, as [k, n] counts of each image, `chunk` draws at a time."""
  rng = np.random.default_rng(seed)
  for start in range(0, resamples, chunk):
    k = min(chunk, resamples - start)
    draws = rng.integers(0, n, (k, n))
    yield np.bincount((draws + n * np.arange(k)[:, None]).ravel(),
                      minlength=k * n).reshape(k, n).astype(np.float64)


def replicates(models: Sequence[np.ndarray], resamples: int = DEFAULT_RESAMPLES,
               seed: int = DEFAULT_SEED) -> List[Series]:
  """Each model's figures and their standard errors over `resamples` bootstrap draws of
  its [n, C, C] image matrices, every model from the same draws; then, for two models,
  the same of their difference (the first's figures minus the second's, each image's
  influence on it the difference of its influences)."""
  n = len(models[0])
  models = [np.asarray(m, np.int64) for m in models]
  flat = [m.reshape(n, -1).astype(np.float64) for m in models]
  parts = [_Parts.of(m) for m in models]
  # Memory is draws x images x figures floats per model: a few tens of MB at most.
  chunk = max(1, min(_CHUNK, 2_000_000 // (n * (models[0].shape[-1] + 2))))
  values: List[List[np.ndarray]] = [[] for _ in range(len(models) + (len(models) == 2))]
  errors: List[List[np.ndarray]] = [[] for _ in values]
  for weights in [np.ones((1, n)), *_weights(n, resamples, seed, chunk)]:
    figures = [statistics((weights @ f).reshape(len(weights), *m.shape[1:]))
               for f, m in zip(flat, models)]
    influences = [_influences(p, weights) for p in parts]
    if len(models) == 2:
      figures.append(figures[0] - figures[1])
      influences.append(influences[0] - influences[1])
    for k, (figure, influence) in enumerate(zip(figures, influences)):
      values[k].append(figure)
      errors[k].append(_errors(influence, weights))
  return [Series(v[0][0], e[0][0], np.concatenate(v[1:]), np.concatenate(e[1:]))
          for v, e in zip(values, errors)]


def _quantiles(columns: np.ndarray, probabilities: Sequence[float]) -> np.ndarray:
  """np.nanquantile(columns, probabilities, axis=0) (its linear interpolation), at the
  cost of one sort: [len(probabilities), K]; NaN for a column with no number."""
  ordered = np.sort(columns, 0)  # NaN last
  count = (~np.isnan(columns)).sum(0)
  result = []
  for probability in probabilities:
    position = probability * np.maximum(count - 1, 0)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, np.maximum(count - 1, 0))
    k = np.arange(columns.shape[1])
    result.append(ordered[below, k] + (position - below) * (ordered[above, k]
                                                            - ordered[below, k]))
  return np.where(count > 0, np.asarray(result), np.nan)


def studentized_intervals(series: Series, low: float, high: float,
                          confidence: float = CONFIDENCE, symmetric: bool = True
                          ) -> List[Optional[Interval]]:
  """The studentized (bootstrap-t) interval of each figure: the point minus the
  quantiles of t = (replicate - point) / replicate's standard error, in the point's
  standard errors (Efron and Tibshirani, 1993, ch. 12.5), clipped to the figure's range
  [low, high]. Each replicate is judged by its own standard error, so the interval
  follows the heavy tails that a ratio of sums over few, unequal images has. `symmetric`:
  the point plus or minus the `confidence` quantile of |t| (Hall, 1988), which holds its
  coverage where a replicate's standard error and its value err together (a draw without
  the few large images); else the equal-tailed quantiles of t. A figure with no spread
  (two models alike on every image) gets the point; None for no value."""
  with np.errstate(invalid='ignore', divide='ignore'):
    t = (series.values - series.point) / series.errors
  t[~np.isfinite(t)] = np.nan
  if symmetric:
    quantiles = np.repeat(_quantiles(np.abs(t), [confidence]), 2, 0) * [[-1], [1]]
  else:
    quantiles = _quantiles(t, [(1 - confidence) / 2, (1 + confidence) / 2])
  result: List[Optional[Interval]] = []
  for point, error, (below, above) in zip(series.point, series.error, quantiles.T):
    if np.isnan(point):
      result.append(None)
    elif not error > 0 or np.isnan(below):
      result.append((float(point), float(point)))
    else:
      result.append((float(np.clip(point - above * error, low, high)),
                     float(np.clip(point - below * error, low, high))))
  return result


def bca_intervals(samples: np.ndarray, point: np.ndarray, jackknife: np.ndarray,
                  confidence: float = CONFIDENCE) -> List[Optional[Interval]]:
  """The bias-corrected and accelerated (BCa) bootstrap interval of each column of
  [resamples, K] replicates, given the figures on the whole split ([K]) and with each
  image left out in turn ([n, K]). BCa shifts the percentiles to correct the bias and
  skew that a ratio on few images has (Efron and Tibshirani, 1993, ch. 14); its bounds are
  replicates. The gate's method before the studentized one. None for a column with no
  defined replicate."""
  normal = statistics_lib.NormalDist()
  z = normal.inv_cdf((1 + confidence) / 2)
  result: List[Optional[Interval]] = []
  for column, theta, left_out in zip(samples.T, point, jackknife.T):
    defined = column[~np.isnan(column)]
    if not len(defined) or np.isnan(theta):
      result.append(None)
      continue
    below = np.mean(defined < theta) + np.mean(defined == theta) / 2
    z0 = normal.inv_cdf(min(max(below, 1e-6), 1 - 1e-6))
    left_out = left_out[~np.isnan(left_out)]
    spread = left_out.mean() - left_out if left_out.size else left_out
    denominator = 6 * np.sum(spread ** 2) ** 1.5
    a = float(np.sum(spread ** 3) / denominator) if denominator > 0 else 0.0
    tails = [normal.cdf(z0 + (z0 + s) / (1 - a * (z0 + s))) for s in (-z, z)]
    low, high = np.percentile(defined, [100 * t for t in tails])
    result.append((float(low), float(high)))
  return result


def leave_one_out(matrices: np.ndarray) -> np.ndarray:
  """statistics() of the split with each image left out in turn: [n, C + 2]."""
  return statistics(matrices.sum(0) - matrices)


@dataclasses.dataclass(frozen=True)
class SliceIntervals:
  """One model's (or the paired difference's) 95% intervals on one slice, None where the
  figure rests on fewer than `min_images` images or has no value; with the image counts
  they rest on."""
  images: int  # images in the slice
  class_images: Tuple[int, ...]  # images whose ground truth holds each class
  class_iou: Tuple[Optional[Interval], ...]
  mean_iou: Optional[Interval]
  pixel_accuracy: Optional[Interval]


def image_counts(matrices: np.ndarray) -> Tuple[int, Tuple[int, ...]]:
  """[n, C, C] -> (n, images holding each class in their ground truth)."""
  return len(matrices), tuple(int(c) for c in (np.asarray(matrices).sum(-1) > 0).sum(0))


@dataclasses.dataclass(frozen=True)
class Drawn:
  """One slice's figures on the whole slice (`points`, statistics()' [C + 2] columns) and
  their intervals, each model's, then, for two, the paired difference's; and, for two
  models, what the bound over all checks at once needs: each difference's spread (its
  standard error) and each replicate's deviation below the point, in the replicate's
  standard errors ([resamples, C + 2]; NaN where undefined)."""
  intervals: List[SliceIntervals]
  points: List[np.ndarray] = dataclasses.field(default_factory=list)
  spread: Optional[np.ndarray] = None
  deviations: Optional[np.ndarray] = None


def draw(models: Sequence[ImageMatrices], settings: Settings = Settings()) -> Drawn:
  """The intervals of each model's image matrices and, for two models, of their
  difference (the first's figures minus the second's), paired image by image (paired():
  the same images, by name, against the same ground truth)."""
  matrices = paired(models)
  images, class_images = image_counts(matrices[0])
  if not images:
    return Drawn([])
  series = replicates(matrices, settings.resamples, settings.seed)
  judged = [count >= settings.min_images for count in (*class_images, images, images)]
  result = []
  if settings.method == BCA:
    jackknives = [leave_one_out(m) for m in matrices]
    jackknives += [jackknives[0] - jackknives[1]] if len(matrices) == 2 else []
  for k, one in enumerate(series):
    low = -1.0 if k == 2 else 0.0
    if settings.method == BCA:
      bounds = bca_intervals(one.values, one.point, jackknives[k])
    else:
      bounds = studentized_intervals(one, low, 1.0, symmetric=settings.method == SYMMETRIC_T)
    bounds = [b if ok else None for b, ok in zip(bounds, judged)]
    result.append(SliceIntervals(images, class_images, tuple(bounds[:-2]), bounds[-2],
                                 bounds[-1]))
  points = [one.point for one in series]
  if len(series) < 3:
    return Drawn(result, points)
  difference = series[2]
  with np.errstate(invalid='ignore', divide='ignore'):
    deviations = (difference.point - difference.values) / difference.errors
  return Drawn(result, points, difference.error, deviations)


def slice_intervals(models: Sequence[ImageMatrices], settings: Settings = Settings()
                    ) -> List[SliceIntervals]:
  """draw()'s intervals."""
  return draw(models, settings).intervals


def critical_value(deviations: Sequence[np.ndarray], error_rate: float) -> float:
  """The bound over a family of checks, from each check's [resamples] replicate
  deviations below its point in the replicate's standard errors (Drawn.deviations'
  columns): the (1 - error_rate) quantile of the largest deviation in each replicate. A
  check's difference is then at most point + critical_value x its standard error, for
  all checks at once, with probability 1 - error_rate (a single-step max-T bound:
  Westfall and Young, 1993); for one check, the one-sided bootstrap-t bound. Each slice is
  resampled on its own, so the overlap of the whole split with its slices is left out of
  the joint draw: the bound errs on the safe side. 0 for no check."""
  if not len(deviations):
    return 0.0
  stacked = np.stack(deviations, -1)
  largest = np.where(np.isnan(stacked), -np.inf, stacked).max(-1)
  return float(np.quantile(largest, 1 - error_rate, method='higher'))


def for_images(critical: float, images: int) -> float:
  """The family's critical value for a check on `images` images: at the same tail
  probability, Student's t on images - 1 degrees of freedom in place of the normal. The
  bound's tail probability is far out (about error_rate / checks), where a bootstrap of
  few images cannot reach: its replicates never stray further than its images do, so a
  slice of 40 images had its unchanged model refused 6.5% of the time over 150 checks
  without it (bench/gate_coverage.py). Close to `critical` on hundreds of images."""
  if images < 3:
    return critical
  tail = statistics_lib.NormalDist().cdf(critical)
  return float(scipy_stats.t.ppf(tail, images - 1))


POWER = 0.8  # the chance of refusal the power statement gives a drop for


def refused_drop(allowed_drop: float, spread: float, critical: float) -> Optional[float]:
  """The smallest true drop that the bound refuses with probability POWER, with the
  difference's estimate spread normally by `spread`: the allowed drop, plus the bound's
  critical value and POWER's normal quantile in spreads. None without spread (a model
  against itself: nothing to refuse)."""
  if not spread > 0:
    return None
  return allowed_drop + (critical + statistics_lib.NormalDist().inv_cdf(POWER)) * spread
