"""The release gate's comparison with the released model, decided on paired intervals.

The Evaluator scores the candidate and the released model on the same test examples in one
pass, and the bootstrap (core/bootstrap.py) resamples those images for both models at
once, so each difference (candidate - released) gets a 95% interval in which the luck of
the draw (which images happen to be in the test split) cancels: a paired comparison.

A difference is "better" when its interval lies above 0, "worse" when it lies below 0,
and "no detectable change" when it holds 0. A check fails only when the model is worse
beyond noise by more than the drop it is allowed: the interval's upper end lies below
minus the allowed drop (the drop's interval lies wholly beyond it). A slice or class in
fewer test images than the minimum is "too few images to judge" and neither passes nor
fails: it is listed, not decided.
"""
import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

from petseg.core import records

BETTER = 'better'
NO_CHANGE = 'no detectable change'
WORSE = 'worse'
TOO_FEW = 'too few images to judge'
OVERALL = 'overall'  # the slice that is the whole split

Interval = Tuple[float, float]


def shown(value: Optional[float], interval: Optional[Sequence[float]] = None,
          missing: str = 'n/a', images: Optional[int] = None) -> str:
  """How a figure is written everywhere: 0.634 [0.601, 0.667], its 95% interval after it
  when there is one; given the `images` it rests on and no interval, 0.634 (n=12: too few
  images to judge); `missing` for no value."""
  if value is None:
    return missing
  if interval:
    return f'{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]'
  return f'{value:.3f}' + ('' if images is None else f' (n={images}: {TOO_FEW})')


@dataclasses.dataclass(frozen=True)
class Difference:
  """candidate - released for one metric on one slice, with its 95% interval, the test
  images it rests on (the slice's, or those holding the class), the fewest the gate judges
  and the drop it allows there."""
  slice: str
  metric: str
  candidate: float
  released: float
  difference: float
  interval: Optional[Interval]
  allowed_drop: float
  images: int
  min_images: int

  @property
  def judged(self) -> bool:
    return self.images >= self.min_images and self.interval is not None

  @property
  def verdict(self) -> str:
    if not self.judged:
      return f'{TOO_FEW} (n={self.images})'
    low, high = self.interval
    return BETTER if low > 0 else WORSE if high < 0 else NO_CHANGE

  @property
  def passed(self) -> bool:
    return not self.judged or self.interval[1] >= -self.allowed_drop

  def where(self) -> str:
    return self.metric + ('' if self.slice == OVERALL else f' on {self.slice}')

  def reason(self) -> str:
    """Why it failed, with the numbers."""
    return (f'{self.where()} is {-self.difference:.3f} below the released model\'s (95% '
            f'interval of the drop {-self.interval[1]:.3f} to {-self.interval[0]:.3f}), more '
            f'than the allowed drop of {self.allowed_drop:.3f}')

  def to_json(self) -> Dict[str, Any]:
    return {**records.fields_to_json(self), 'verdict': self.verdict, 'passed': self.passed}

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Difference':
    return records.fields_from_json(
        cls, {k: v for k, v in data.items() if k not in ('verdict', 'passed')},
        'comparison check')


@dataclasses.dataclass(frozen=True)
class Comparison:
  """A candidate against the released model: the whole split's mean IoU, whose verdict is
  the comparison's, the other checks (slices, classes), and the allowed drops as set."""
  mean_iou: Difference
  others: Tuple[Difference, ...]
  allowed: Dict[str, Any]  # max_mean_iou_drop, max_slice_drop, max_class_drop

  @property
  def checks(self) -> Tuple[Difference, ...]:
    return (self.mean_iou, *self.others)

  @property
  def verdict(self) -> str:
    return self.mean_iou.verdict

  def reasons(self) -> List[str]:
    return [d.reason() for d in self.checks if not d.passed]

  def not_judged(self) -> List[str]:
    """The checks on too few images to judge, said as such."""
    return [f'{d.where()}: {d.verdict}' for d in self.checks if not d.judged]

  def to_json(self) -> Dict[str, Any]:
    return {'verdict': self.verdict, 'difference': self.mean_iou.difference,
            'interval': self.mean_iou.to_json()['interval'], **self.allowed,
            'reasons': self.reasons(), 'not_judged': self.not_judged(),
            'checks': [d.to_json() for d in self.checks]}

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Comparison':
    """From to_json()'s: the checks hold it all; the allowed drops are the other keys."""
    mean_iou, *others = (Difference.from_json(check) for check in data['checks'])
    derived = ('verdict', 'difference', 'interval', 'reasons', 'not_judged', 'checks')
    return cls(mean_iou, tuple(others), {k: v for k, v in data.items() if k not in derived})


@dataclasses.dataclass(frozen=True)
class Sensitivity:
  """What the test split can tell: its images, and the half-width of the 95% interval of
  the paired mean-IoU difference with the released model (`difference_margin`: a drop
  larger than it is called "worse") or, with none released yet, of the candidate's mean
  IoU (`value_margin`). None where the split has too few images to judge."""
  images: int
  min_images: int
  value_margin: Optional[float]
  difference_margin: Optional[float] = None

  def sentence(self) -> str:
    if self.images < self.min_images or self.value_margin is None:
      return (f'With {self.images} test images (fewer than {self.min_images}), the mean IoU '
              'is too uncertain to judge a change: add test images.')
    if self.difference_margin is not None:
      return (f'With {self.images} test images, mean-IoU drops larger than '
              f'{self.difference_margin:.3f} are detectable.')
    return (f'With {self.images} test images, the mean IoU is known to '
            f'\u00b1{self.value_margin:.3f} (95%); the smallest detectable drop is measured '
            'once a model has been released.')

  def to_json(self) -> Dict[str, Any]:
    return {**records.fields_to_json(self), 'sentence': self.sentence()}

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Sensitivity':
    return records.fields_from_json(
        cls, {k: v for k, v in data.items() if k != 'sentence'}, 'sensitivity')
