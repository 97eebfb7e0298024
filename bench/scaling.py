"""How each stage's time and memory grow with the data: the whole pipeline, uncached, on N
synthetic images in the Oxford-IIIT Pet layout at N = 600, 2,400 and 9,600.

Images are JPEGs of 375..500 px a side, as the real photos (--large: 1024..2048 px, as
Cityscapes'), with PNG trimaps: a pool of distinct generated pets, hard-linked under new
names up to N. Each N runs in a process of its own, so that its memory is its own; a thread
samples the process's resident memory (RSS) every 0.1 s, and ML Metadata's start and end of
each execution say which stage a sample belongs to. The Trainer trains one epoch of the
default model at --image-size. Prints a table, writes a PNG plot (time and peak RSS
against N, a line per stage), and ends with one JSON object: seconds per image at the
largest N ("ours") against the smallest ("baseline"); a ratio at or below 1 is linear
time (fixed costs spread thinner). "peak_rss_ratio" is the largest ratio of a stage's peak
RSS at the largest N to its peak at the smallest.

  python bench/scaling.py [--sizes 600,2400,9600] [--large] [--plot bench/scaling.png]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import common
from petseg import sample_data
from petseg.components.example_gen import oxford_lists
from petseg.components.example_gen import sources
from petseg.core import config as config_lib
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import metadata
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config

CACHE = os.path.join(common.ROOT, '.cache', 'scaling')
_TEST_FRACTION = 0.25


def _pool(min_size: int, max_size: int, size: int) -> str:
  """A folder of `size` distinct generated pets (made once, then reused)."""
  pool = os.path.join(CACHE, f'pool-{min_size}-{max_size}-{size}')
  if not os.path.exists(os.path.join(pool, 'annotations', 'list.txt')):
    sample_data.make_sample_data(pool, size, min_size=min_size, max_size=max_size)
  return pool


def dataset(pool: str, n: int) -> str:
  """An Oxford-layout folder of `n` images: hard links to the pool's files, each under a
  new name of the pool file's breed, and lists that keep a quarter for testing."""
  out = f'{pool}-as-{n}'
  if os.path.exists(os.path.join(out, 'annotations', 'list.txt')):
    return out
  list_path = os.path.join(pool, 'annotations', 'list.txt')
  with open(list_path, 'rb') as f:
    entries, _ = oxford_lists.parse_list(f.read())
  by_breed = {}
  for entry in entries:
    by_breed.setdefault(entry.breed, []).append(entry.name)
  os.makedirs(os.path.join(out, 'images'))
  os.makedirs(os.path.join(out, 'annotations', 'trimaps'))
  names = []
  for i in range(n):
    name = sample_data.sample_name(i)
    pool_of_breed = by_breed[oxford_lists.breed_of(name)]
    source = pool_of_breed[(i // len(oxford_lists.BREEDS)) % len(pool_of_breed)]
    for folder, ext in (('images', '.jpg'), (os.path.join('annotations', 'trimaps'), '.png')):
      os.link(os.path.join(pool, folder, source + ext), os.path.join(out, folder, name + ext))
    names.append(name)
  test = set(names[::round(1 / _TEST_FRACTION)])
  for file_name, listed in (('trainval.txt', [n for n in names if n not in test]),
                            ('test.txt', [n for n in names if n in test]),
                            ('list.txt', names)):
    with open(os.path.join(out, 'annotations', file_name), 'w') as f:
      f.writelines(oxford_lists.list_line(n) + '\n' for n in listed)
  return out


class _RssSampler(threading.Thread):
  """Samples (wall-clock ms, RSS bytes) of this process every `every` seconds."""

  def __init__(self, every: float = 0.1):
    super().__init__(daemon=True)
    self.samples, self._every, self._done = [], every, threading.Event()

  def run(self):
    page = os.sysconf('SC_PAGE_SIZE')
    while not self._done.is_set():
      with open('/proc/self/statm') as f:
        rss = int(f.read().split()[1]) * page
      self.samples.append((time.time() * 1000, rss))
      self._done.wait(self._every)

  def stop(self):
    self._done.set()
    self.join()


def run_one(data_dir: str, out: str, image_size: int) -> dict:
  """Runs the pipeline once in this process: {stage: {seconds, peak_rss_mb}}."""
  dataset_config = sources.dataset_config('oxford_pets', data_dir)
  config = run_config.RunConfig(
      dataset_config,
      training.TrainingConfig(image_size=image_size, epochs=1,
                              num_classes=dataset_config.labels.num_classes),
      config_lib.ReleaseConfig(min_mean_iou=0.0))
  sampler = _RssSampler()
  sampler.start()
  start = time.perf_counter()
  local_runner.run(local_runner.build(out, data_dir, config, enable_cache=False), out)
  total = time.perf_counter() - start
  sampler.stop()
  store = metadata.connect(local_runner.metadata_path(out))
  stages = {}
  for name, execution in metadata.latest_executions(store, pipeline_lib.PIPELINE_NAME).items():
    begin, end = execution.create_time_since_epoch, execution.last_update_time_since_epoch
    # A stage shorter than the sampling period is given the last sample before its end.
    during = ([rss for t, rss in sampler.samples if begin <= t <= end]
              or [rss for t, rss in sampler.samples if t <= end][-1:])
    stages[name] = {'seconds': round((end - begin) / 1000, 1),
                    'peak_rss_mb': round(max(during) / 2**20)}
  return {'seconds': round(total, 1), 'stages': stages,
          'peak_rss_mb': round(max(rss for _, rss in sampler.samples) / 2**20)}


def _table(results: dict) -> str:
  sizes = sorted(results)
  stages = list(results[sizes[-1]]['stages'])
  head = f'{"stage":<22}' + ''.join(f'{f"{n} img: s":>14}{"MB":>8}' for n in sizes)
  lines = [head, '-' * len(head)]
  for stage in [*stages, 'whole run']:
    cells = ''
    for n in sizes:
      figures = results[n] if stage == 'whole run' else results[n]['stages'].get(stage, {})
      cells += f'{figures.get("seconds", 0):>14.1f}{figures.get("peak_rss_mb", 0):>8}'
    lines.append(f'{stage:<22}{cells}')
  lines.append(f'{"ms per image":<22}' + ''.join(
      f'{1000 * results[n]["seconds"] / n:>14.1f}{"":>8}' for n in sizes))
  return '\n'.join(lines)


def _plot(results: dict, path: str, title: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  sizes = sorted(results)
  figure, (time_axis, memory_axis) = pyplot.subplots(1, 2, figsize=(11, 4.2))
  for stage, figures in results[sizes[-1]]['stages'].items():
    if figures['seconds'] < 1:
      continue  # the bookkeeping steps: a flat line at zero
    seconds = [results[n]['stages'][stage]['seconds'] for n in sizes]
    memory = [results[n]['stages'][stage]['peak_rss_mb'] / 1024 for n in sizes]
    time_axis.plot(sizes, seconds, marker='o', label=stage)
    memory_axis.plot(sizes, memory, marker='o', label=stage)
  time_axis.set(xlabel='images', ylabel='wall time (s)',
                title='time per stage (those of 1 s or more)')
  memory_axis.set(xlabel='images', ylabel='peak RSS (GiB)', title='peak memory per stage',
                  ylim=(0, None))
  memory_axis.legend(fontsize=7, loc='lower right')
  figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path, dpi=90)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--sizes', default='600,2400,9600')
  parser.add_argument('--large', action='store_true', help='1024..2048 px images')
  parser.add_argument('--pool', type=int, default=240, help='distinct images to generate')
  parser.add_argument('--image-size', type=int, default=96, help='the model\'s input size')
  parser.add_argument('--plot', default=os.path.join(common.ROOT, 'scaling.png'))
  parser.add_argument('--one', type=int, help=argparse.SUPPRESS)  # the child's N
  args = parser.parse_args()
  min_size, max_size = (1024, 2048) if args.large else (375, 500)
  pool = _pool(min_size, max_size, args.pool)
  if args.one:
    out = os.path.join(CACHE, f'run-{args.one}')
    shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(run_one(dataset(pool, args.one), out, args.image_size)))
    return

  results = {}
  for n in (int(s) for s in args.sizes.split(',')):
    child = subprocess.run([sys.executable, __file__, '--one', str(n), '--pool',
                            str(args.pool), '--image-size', str(args.image_size),
                            *(['--large'] if args.large else [])],
                           check=True, stdout=subprocess.PIPE, text=True)
    results[n] = json.loads(child.stdout.strip().splitlines()[-1])
    print(f'{n} images: {results[n]["seconds"]} s', file=sys.stderr, flush=True)
  sizes = sorted(results)
  print(_table(results), file=sys.stderr)
  _plot(results, args.plot, f'{min_size}..{max_size} px JPEGs, {args.image_size} px model, '
        '1 epoch, 2 cores')
  small, large = results[sizes[0]], results[sizes[-1]]
  ours, baseline = large['seconds'] / sizes[-1], small['seconds'] / sizes[0]
  common.report({
      'bench': 'scaling',
      'images': sizes,
      'ours': round(ours, 4),
      'baseline': round(baseline, 4),
      'ratio': round(ours / baseline, 3),
      'peak_rss_ratio': round(max(
          large['stages'][s]['peak_rss_mb'] / small['stages'][s]['peak_rss_mb']
          for s in large['stages']), 2),
      'results': results,
  })


if __name__ == '__main__':
  main()
