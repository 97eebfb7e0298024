"""95% intervals of segmentation metrics: a bootstrap over test images.

IoU is a ratio of pixel sums over images, so its uncertainty comes from which images
happen to be in the test split. Each test image's confusion matrix is kept (sorted by the
image's name, so the order never depends on the runner); a replicate draws as many images
with replacement, sums their matrices and computes every figure from the sum. The
interval is the bias-corrected and accelerated (BCa) percentile interval of the replicates.
Its bounds are replicates, each a possible value, so every bound lies in the metric's
range: [0, 1] for a value and [-1, 1] for a difference.

Two models scored on the same images are resampled with the same draws, so the interval
of their difference is paired: the luck of the draw cancels. The draws come from a seeded
generator and depend only on the number of images, so the same models on the same
examples give the same intervals bit for bit.

A figure that rests on fewer than `min_images` images (a slice's, or those holding a
class) gets no interval: the simulation in tests/test_bootstrap.py measures how far below
95% the coverage falls there.
"""
import dataclasses
import statistics as statistics_lib
from typing import List, Optional, Sequence, Tuple

import numpy as np

CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
# Below this many images the simulation's coverage falls under 92% (README, "The release
# gate"); ReleaseConfig.min_slice_images defaults to it.
DEFAULT_MIN_IMAGES = 40
_CHUNK = 100  # replicates drawn at a time: memory is _CHUNK x images weights

Interval = Tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Settings:
  """How the gate's intervals are drawn (ReleaseConfig.intervals())."""
  min_images: int = DEFAULT_MIN_IMAGES
  resamples: int = DEFAULT_RESAMPLES
  seed: int = DEFAULT_SEED


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


def sorted_by_name(names: Sequence[str], matrices: Sequence[np.ndarray]) -> np.ndarray:
  """[n, C, C] in the order of the images' names, then of their ground truth (class pixel
  counts, which every model of the same images shares): an order no runner can change."""
  keys = [(name, tuple(np.asarray(m).sum(1).tolist())) for name, m in zip(names, matrices)]
  order = sorted(range(len(keys)), key=keys.__getitem__)
  num_classes = np.asarray(matrices[0]).shape[0] if len(matrices) else 0
  return np.asarray([matrices[i] for i in order], np.int64).reshape(
      len(order), num_classes, num_classes)


def replicates(models: Sequence[np.ndarray], resamples: int = DEFAULT_RESAMPLES,
               seed: int = DEFAULT_SEED) -> List[np.ndarray]:
  """Each model's statistics() over `resamples` bootstrap draws of its [n, C, C] image
  matrices: [resamples, C + 2] each, every model from the same draws."""
  n = len(models[0])
  flat = [np.asarray(m, np.float64).reshape(n, -1) for m in models]
  rng = np.random.default_rng(seed)
  out: List[List[np.ndarray]] = [[] for _ in models]
  for start in range(0, resamples, _CHUNK):
    k = min(_CHUNK, resamples - start)
    draws = rng.integers(0, n, (k, n))
    weights = np.bincount((draws + n * np.arange(k)[:, None]).ravel(),
                          minlength=k * n).reshape(k, n).astype(np.float64)
    for series, matrices in zip(out, flat):
      sums = weights @ matrices
      series.append(statistics(sums.reshape(k, *models[0].shape[1:])))
  return [np.concatenate(series) for series in out]


def bca_intervals(samples: np.ndarray, point: np.ndarray, jackknife: np.ndarray,
                  confidence: float = CONFIDENCE) -> List[Optional[Interval]]:
  """The bias-corrected and accelerated (BCa) bootstrap interval of each column of
  [resamples, K] replicates, given the figures on the whole split ([K]) and with each
  image left out in turn ([n, K]). BCa shifts the percentiles to correct the bias and
  skew that a ratio on few images has (Efron and Tibshirani, 1993, ch. 14); its bounds are
  still replicates. None for a column with no defined replicate."""
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


def slice_intervals(models: Sequence[np.ndarray], settings: Settings = Settings()
                    ) -> List[SliceIntervals]:
  """The intervals of each model's [n, C, C] image matrices (the same images, in the same
  order), then, for two models, of their difference (the first's figures minus the
  second's)."""
  images, class_images = image_counts(models[0])
  if not images:
    return []
  samples = replicates(models, settings.resamples, settings.seed)
  points = [statistics(m.sum(0)) for m in models]
  jackknives = [leave_one_out(np.asarray(m, np.int64)) for m in models]
  if len(models) == 2:
    samples.append(samples[0] - samples[1])
    points.append(points[0] - points[1])
    jackknives.append(jackknives[0] - jackknives[1])
  result = []
  for series, point, jackknife in zip(samples, points, jackknives):
    bounds = bca_intervals(series, point, jackknife)
    judged = [count >= settings.min_images for count in (*class_images, images, images)]
    bounds = [b if ok else None for b, ok in zip(bounds, judged)]
    result.append(SliceIntervals(images, class_images, tuple(bounds[:-2]), bounds[-2],
                                 bounds[-1]))
  return result
