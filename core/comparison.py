"""The release gate's comparison with the released model, decided on paired intervals.

The Evaluator scores the candidate and the released model on the same test examples in one
pass, and the bootstrap (core/bootstrap.py) resamples those images for both models at
once, so each difference (candidate - released) gets a 95% interval in which the luck of
the draw (which images happen to be in the test split) cancels: a paired comparison.

A difference is "better" when its interval lies above 0, "worse" when it lies below 0,
and "no detectable change" when it holds 0. A check fails only when the model is worse
beyond noise by more than the drop it is allowed, judged on one bound for all the checks
at once (the whole split, each slice, each class: a Family), so that a model within all
its allowed drops is refused with the family's error rate (5%) however many slices and
classes there are: the check's bound, its difference plus the family's critical value in
standard errors, lies below minus the allowed drop. A slice or class in fewer test
images than the minimum is "too few images to judge" and neither passes nor fails: it is
listed, not decided. docs/statistics.md gives the method and its measured error rates.
"""
import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

from petseg.core import bootstrap
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
class Family:
  """The gate's checks judged as one: each check's difference is at most its `bound`
  (difference + bootstrap.for_images(critical_value, its images) x its standard error)
  for all `checks` at once, except with probability `error_rate`: the chance that a model
  within all its allowed drops is refused (bootstrap.critical_value())."""
  error_rate: float
  checks: int
  critical_value: float

  def sentence(self) -> str:
    return (f'a model within its allowed drops is refused at most {self.error_rate:.0%} of '
            f'the time over all {self.checks} checks at once')

  def to_json(self) -> Dict[str, Any]:
    return records.fields_to_json(self)

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Family':
    return records.fields_from_json(cls, data, 'family of checks')


@dataclasses.dataclass(frozen=True)
class Difference:
  """candidate - released for one metric on one slice, with its 95% interval, the test
  images it rests on (the slice's, or those holding the class), the fewest the gate judges
  and the drop it allows there; its standard error (`spread`) and its bound over the
  family of checks (None in records from before the family, which judged the interval
  alone)."""
  slice: str
  metric: str
  candidate: float
  released: float
  difference: float
  interval: Optional[Interval]
  allowed_drop: float
  images: int
  min_images: int
  spread: Optional[float] = None
  bound: Optional[float] = None

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
    if not self.judged:
      return True
    return (self.bound if self.bound is not None else self.interval[1]) >= -self.allowed_drop

  def where(self) -> str:
    return self.metric + ('' if self.slice == OVERALL else f' on {self.slice}')

  def reason(self) -> str:
    """Why it failed, with the numbers."""
    surely = ('' if self.bound is None else
              f'; over all checks at once, a drop of at least {-self.bound:.3f}')
    return (f'{self.where()} is {-self.difference:.3f} below the released model\'s (95% '
            f'interval of the drop {-self.interval[1]:.3f} to {-self.interval[0]:.3f}'
            f'{surely}), more than the allowed drop of {self.allowed_drop:.3f}')

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
  family: Optional[Family] = None  # None in records from before it

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
            'checks': [d.to_json() for d in self.checks],
            **({'family': self.family.to_json()} if self.family else {})}

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Comparison':
    """From to_json()'s: the checks and the family hold it all; the allowed drops are the
    other keys."""
    mean_iou, *others = (Difference.from_json(check) for check in data['checks'])
    derived = ('verdict', 'difference', 'interval', 'reasons', 'not_judged', 'checks',
               'family')
    family = Family.from_json(data['family']) if 'family' in data else None
    return cls(mean_iou, tuple(others),
               {k: v for k, v in data.items() if k not in derived}, family)


@dataclasses.dataclass(frozen=True)
class Sensitivity:
  """What the test split can tell: its images; the half-width of the 95% interval of the
  candidate's mean IoU (`value_margin`) and of its paired difference with the released
  model (`difference_margin`); and the gate's power (`refused_drop`): the mean-IoU drop
  that it refuses with probability bootstrap.POWER (bootstrap.refused_drop()), None with no released model,
  a model scored as the released one on every image, or a record from before it. None
  where the split has too few images to judge."""
  images: int
  min_images: int
  value_margin: Optional[float]
  difference_margin: Optional[float] = None
  refused_drop: Optional[float] = None

  def sentence(self) -> str:
    if self.images < self.min_images or self.value_margin is None:
      return (f'With {self.images} test images (fewer than {self.min_images}), the mean IoU '
              'is too uncertain to judge a change: add test images.')
    known = (f'With {self.images} test images, the mean IoU is known to '
             f'\u00b1{self.value_margin:.3f} (95%)')
    if self.refused_drop is not None:
      return (f'{known}; a mean-IoU drop of {self.refused_drop:.3f} or more below the released '
              f'model\'s would be refused {round(bootstrap.POWER * 10)} times in 10.')
    if self.difference_margin is None:
      return (f'{known}; the drop the gate would refuse is measured once a model has been '
              'released.')
    return known + '.'

  def to_json(self) -> Dict[str, Any]:
    return {**records.fields_to_json(self), 'sentence': self.sentence()}

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Sensitivity':
    return records.fields_from_json(
        cls, {k: v for k, v in data.items() if k != 'sentence'}, 'sensitivity')
