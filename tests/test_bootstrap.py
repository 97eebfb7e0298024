"""The release gate's intervals (core/bootstrap.py): in range, repeatable, paired by image
name. How often they cover, and how often the gate refuses an unchanged model:
tests/test_gate_promises.py."""
import numpy as np
import pytest

from petseg.core import bootstrap
from petseg.models import scoring
from tests import gate_simulation


def test_bounds_lie_in_the_metrics_range_and_repeat_bit_for_bit():
  # A tiny, skewed split: 4 images, one of which alone holds class 2.
  candidate, baseline = gate_simulation.shaped(gate_simulation.CAMVID, 4, seed=3)
  first = bootstrap.slice_intervals(_named(candidate, baseline), bootstrap.Settings(1))
  again = bootstrap.slice_intervals(_named(candidate, baseline), bootstrap.Settings(1))
  assert first == again
  for intervals, low in zip(first, (0, 0, -1)):
    for bounds in (*intervals.class_iou, intervals.mean_iou, intervals.pixel_accuracy):
      if bounds:
        assert low <= bounds[0] <= bounds[1] <= 1


def test_figures_on_too_few_images_get_no_interval():
  candidate, baseline = gate_simulation.shaped(gate_simulation.CAMVID, 12, seed=4)
  cand, _, diff = bootstrap.slice_intervals(_named(candidate, baseline),
                                            bootstrap.Settings(13))
  assert cand.images == 12 and cand.mean_iou is None and diff.mean_iou is None
  cand, = bootstrap.slice_intervals(_named(candidate), bootstrap.Settings(10))
  assert cand.mean_iou is not None
  rare = [i for i, n in enumerate(cand.class_images) if n < 10]
  assert rare and all(cand.class_iou[i] is None for i in rare)


def test_statistics_follow_the_numpy_reference():
  from petseg.core import confusion
  matrix = gate_simulation.shaped(gate_simulation.OXFORD, 7, seed=5)[0].sum(0)
  scores = confusion.scores(matrix)
  stats = bootstrap.statistics(matrix)
  assert stats[:3].tolist() == pytest.approx(list(scores['per_class_iou'].values()))
  assert stats[3] == pytest.approx(scores['mean_iou'])
  assert stats[4] == pytest.approx(scores['pixel_accuracy'])


def test_the_order_is_the_names_whatever_order_the_images_came_in():
  matrices = gate_simulation.shaped(gate_simulation.OXFORD, 5, seed=6)[0]
  names = ['e', 'b', 'a', 'd', 'c']
  shuffled = [4, 0, 2, 1, 3]
  first = bootstrap.ImageMatrices.of(names, list(matrices), 3)
  again = bootstrap.ImageMatrices.of([names[i] for i in shuffled],
                                     [matrices[i] for i in shuffled], 3)
  assert first.names == again.names == ('a', 'b', 'c', 'd', 'e')
  np.testing.assert_array_equal(first.matrices, again.matrices)
  np.testing.assert_array_equal(first.matrices[0], matrices[2])


def test_a_baseline_scored_in_another_order_is_paired_by_name_and_gives_the_same_intervals():
  candidate, baseline = gate_simulation.shaped(gate_simulation.OXFORD, 60, seed=7)
  names = [f'image_{i:02d}.jpg' for i in range(60)]
  order = np.random.default_rng(0).permutation(60)
  in_order = bootstrap.draw([bootstrap.ImageMatrices.of(names, candidate, 3),
                             bootstrap.ImageMatrices.of(names, baseline, 3)])
  shuffled = bootstrap.draw([
      bootstrap.ImageMatrices.of(names, candidate, 3),
      bootstrap.ImageMatrices([names[i] for i in order], baseline[order])])
  assert shuffled.intervals == in_order.intervals
  # Paired, the difference's interval is narrower than the models' own.
  cand, base, diff = in_order.intervals
  assert diff.mean_iou[1] - diff.mean_iou[0] < (cand.mean_iou[1] - cand.mean_iou[0]) / 1.5


def test_models_scored_on_other_images_or_other_ground_truth_are_refused_in_one_line():
  candidate, baseline = gate_simulation.shaped(gate_simulation.OXFORD, 6, seed=8)
  names = [f'{i}.png' for i in range(6)]
  first = bootstrap.ImageMatrices.of(names, candidate, 3)
  other_images = bootstrap.ImageMatrices.of(names[:5] + ['x.png'], baseline, 3)
  with pytest.raises(bootstrap.UnpairedImages) as refused:
    bootstrap.draw([first, other_images])
  assert str(refused.value) == ('the models were scored on different test images (6 against '
                                '6): 1 only in the first (5.png); 1 only in the second '
                                '(x.png)')
  fewer = bootstrap.ImageMatrices.of(names[:4], baseline[:4], 3)
  with pytest.raises(bootstrap.UnpairedImages, match=r'\(6 against 4\): 2 only in the first'):
    bootstrap.draw([first, fewer])
  # The same names, but each mask at another size: 4x the pixels.
  larger = bootstrap.ImageMatrices.of(names, baseline * 4, 3)
  with pytest.raises(bootstrap.UnpairedImages) as refused:
    bootstrap.draw([first, larger])
  assert '\n' not in str(refused.value)
  assert str(refused.value).startswith('6 test images have other ground truth in the second '
                                       "model's scoring (first: 0.png, ")
  twice = bootstrap.ImageMatrices.of(['a.png'] * 6, candidate, 3)
  with pytest.raises(bootstrap.UnpairedImages, match='named twice cannot be paired: a.png'):
    bootstrap.draw([twice, bootstrap.ImageMatrices.of(['a.png'] * 6, baseline, 3)])


def test_scored_models_get_the_gates_intervals_paired_by_image_name():
  """models/scoring.py, for `petseg evaluate` and the benches: the same intervals as the
  gate's for the same images, as JSON; models scored on other images are refused."""
  candidate, baseline = gate_simulation.shaped(gate_simulation.OXFORD, 50, seed=5)
  names = tuple(f'image_{i:02d}.jpg' for i in range(50))
  scored = [bootstrap.ImageMatrices(names, m) for m in (candidate, baseline)]
  ours, _, difference = scoring.intervals(scored, ['pet', 'background', 'border'])
  cand, _, diff = bootstrap.slice_intervals(scored)
  assert ours['images'] == 50
  assert ours['mean_iou'] == [round(b, 4) for b in cand.mean_iou]
  assert difference['per_class_iou']['border'] == [round(b, 4) for b in diff.class_iou[2]]
  other = bootstrap.ImageMatrices(names[1:] + ('another.jpg',), baseline)
  with pytest.raises(bootstrap.UnpairedImages, match='different test images'):
    scoring.intervals([scored[0], other], ['pet', 'background', 'border'])


def _named(*models):
  return [bootstrap.ImageMatrices(tuple(f'{i:03d}' for i in range(len(m))), m)
          for m in models]
