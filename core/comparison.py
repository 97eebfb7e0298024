"""The release gate's comparison with the released model, decided on paired intervals.

The Evaluator scores the candidate and the released model on the same test examples in one
pass, and TFMA's jackknife resamples those examples for both models at once, so each
difference (candidate - released) gets a 95% interval in which the luck of the draw (which
images happen to be in the test split) cancels: a paired comparison.

A difference is "better" when its interval lies above 0, "worse" when it lies below 0,
and "no detectable change" when it holds 0. A check fails only when the model is worse
beyond noise by more than the drop it is allowed: the interval's upper end lies below
minus the allowed drop (the drop's interval lies wholly beyond it). Where TFMA gave no
interval (a slice too small for its resamples) the point difference decides, and the
reason says so.
"""
import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

BETTER = 'better'
NO_CHANGE = 'no detectable change'
WORSE = 'worse'
OVERALL = 'overall'  # the slice that is the whole split

Interval = Tuple[float, float]


def shown(value: Optional[float], interval: Optional[Sequence[float]] = None,
          missing: str = 'n/a') -> str:
  """How a figure is written everywhere: 0.634 [0.601, 0.667], its 95% interval after it
  when there is one; `missing` for no value."""
  if value is None:
    return missing
  return f'{value:.3f}' + (f' [{interval[0]:.3f}, {interval[1]:.3f}]' if interval else '')


@dataclasses.dataclass(frozen=True)
class Difference:
  """candidate - released for one metric on one slice, with its 95% interval (None when
  it was not computed) and the drop the gate allows there."""
  slice: str
  metric: str
  candidate: float
  released: float
  difference: float
  interval: Optional[Interval]
  allowed_drop: float

  @property
  def verdict(self) -> str:
    low, high = self.interval or (self.difference, self.difference)
    return BETTER if low > 0 else WORSE if high < 0 else NO_CHANGE

  @property
  def passed(self) -> bool:
    high = self.interval[1] if self.interval else self.difference
    return high >= -self.allowed_drop

  def reason(self) -> str:
    """Why it failed, with the numbers."""
    where = '' if self.slice == OVERALL else f' on {self.slice}'
    if self.interval:
      noise = (f'95% interval of the drop {-self.interval[1]:.3f} to '
               f'{-self.interval[0]:.3f}')
    else:
      noise = 'no interval: too few examples to resample, so the point estimate decides'
    return (f'{self.metric}{where} is {-self.difference:.3f} below the released model\'s '
            f'({noise}), more than the allowed drop of {self.allowed_drop:.3f}')

  def to_json(self) -> Dict[str, Any]:
    return {**dataclasses.asdict(self),
            'interval': list(self.interval) if self.interval else None,
            'verdict': self.verdict, 'passed': self.passed}


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

  def to_json(self) -> Dict[str, Any]:
    return {'verdict': self.verdict, 'difference': self.mean_iou.difference,
            'interval': self.mean_iou.to_json()['interval'], **self.allowed,
            'reasons': self.reasons(), 'checks': [d.to_json() for d in self.checks]}
