"""What the release gate promises, measured by simulation (tests/gate_simulation.py).

1. Coverage: how often each interval method's 95% interval holds the population's
   figure (mean IoU, class IoUs, the paired mean-IoU difference), for each test-split
   size, under each generative model, pooled over many populations.
2. The error rate over all checks: how often the gate refuses a model with no real
   change, judged on 37 slices with no drop allowed (the hardest case), with its bound
   over all checks at once and, as the baseline, with each check on its own interval.
3. The power stated: how often a candidate worse by the drop the gate says it refuses 8
   times in 10 is refused (the whole split's mean-IoU check, the default allowed drops).

  python bench/gate_coverage.py [--sizes 30 40 60] [--methods studentized bca]
                                [--populations 20] [--trials 100] [--repetitions 200]
                                [--power-sizes 40 300]

Prints docs/statistics.md's tables, one JSON object per generator, method and size, and
last {"bench": "gate_coverage", "ours": the gate's method's lowest coverage at the
minimum size, "baseline": BCa's, "ratio": ours / baseline}.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from tests import gate_simulation  # noqa: E402  (the simulation the tests assert on)

from petseg.core import bootstrap  # noqa: E402
from petseg.core import config as config_lib  # noqa: E402

FIGURES = ('mean IoU', 'class IoU', 'difference')


def _rate(hits) -> str:
  rate = float(np.mean(hits))
  error = float(np.sqrt(rate * (1 - rate) / len(hits)))
  return f'{rate:.1%} \u00b1 {error:.1%}'


def coverage_table(args) -> dict:
  """Prints the coverage table; returns each method's lowest coverage at the minimum."""
  print('| model | method | images | mean IoU | class IoU | paired difference |')
  print('| --- | --- | ---: | ---: | ---: | ---: |')
  lowest = {}
  for generator in args.generators:
    for method in args.methods:
      for size in args.sizes:
        hits = gate_simulation.coverage(
            generator, size, range(args.populations), args.trials,
            bootstrap.Settings(method=method, resamples=args.resamples))
        print(f'| {generator} | {method} | {size} | '
              + ' | '.join(_rate(hits[f]) for f in FIGURES) + ' |', flush=True)
        rates = {f: float(np.mean(hits[f])) for f in FIGURES}
        print(json.dumps({'generator': generator, 'method': method, 'images': size,
                          'trials': len(hits['mean IoU']), **rates}), file=sys.stderr)
        if size == bootstrap.DEFAULT_MIN_IMAGES:
          lowest[method] = min(lowest.get(method, 1.0), *rates.values())
  return lowest


def refusal_table(args) -> None:
  release = config_lib.ReleaseConfig(max_mean_iou_drop=0, max_slice_drop=0,
                                     bootstrap_resamples=args.resamples)
  print('\n| model | slices x images | refused, one bound for all checks '
        '| refused, each check on its own interval |')
  print('| --- | --- | ---: | ---: |')
  for generator in args.generators:
    rates = [_rate(gate_simulation.refusals(generator, 37, bootstrap.DEFAULT_MIN_IMAGES,
                                            repetitions, release, family=family))
             for family, repetitions in ((True, args.repetitions),
                                         (False, max(args.repetitions // 10, 10)))]
    print(f'| {generator} | 37 x {bootstrap.DEFAULT_MIN_IMAGES} | {rates[0]} | {rates[1]} |',
          flush=True)


def power_table(args) -> None:
  print('\n| model | test images | drop stated (refused 8 times in 10) | true drop | '
        'refused |')
  print('| --- | ---: | ---: | ---: | ---: |')
  for generator in args.generators:
    for size in args.power_sizes:
      stated, true, refused = gate_simulation.power(
          generator, size, args.repetitions * 2,
          config_lib.ReleaseConfig(bootstrap_resamples=args.resamples))
      print(f'| {generator} | {size} | {stated:.4f} | {true:.4f} | {_rate(refused)} |',
            flush=True)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', type=int, nargs='*', default=[20, 40, 100],
                      help='test-split sizes for the coverage table; none: no table')
  parser.add_argument('--methods', nargs='+', choices=bootstrap.METHODS,
                      default=list(bootstrap.METHODS))
  parser.add_argument('--generators', nargs='+', choices=list(gate_simulation.GENERATORS),
                      default=list(gate_simulation.GENERATORS))
  parser.add_argument('--populations', type=int, default=20)
  parser.add_argument('--trials', type=int, default=100, help='test splits per population')
  parser.add_argument('--resamples', type=int, default=bootstrap.DEFAULT_RESAMPLES)
  parser.add_argument('--repetitions', type=int, default=200,
                      help='test splits judged for the error rate over all checks (twice '
                      'as many for the power)')
  parser.add_argument('--power-sizes', type=int, nargs='*', default=[40, 300],
                      help='test-split sizes for the power table; none: no table')
  args = parser.parse_args()
  start = time.time()
  lowest = coverage_table(args) if args.sizes else {}
  if args.repetitions:
    refusal_table(args)
    if args.power_sizes:
      power_table(args)
  print(f'\n{time.time() - start:.0f} s', file=sys.stderr)
  ours = lowest.get(bootstrap.DEFAULT_METHOD)
  baseline = lowest.get(bootstrap.BCA)
  print(json.dumps({'bench': 'gate_coverage', 'ours': ours, 'baseline': baseline,
                    'ratio': ours / baseline if ours and baseline else None,
                    'minimum_images': bootstrap.DEFAULT_MIN_IMAGES}))


if __name__ == '__main__':
  main()
