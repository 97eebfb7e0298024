"""The model card: what a release is for, the data, the recipe, metrics with intervals,
the comparison with the released version and the known limits; JSON and HTML."""
import dataclasses
import html

import pytest

from petseg.core import comparison as comparison_lib
from petseg.records import model_card
from petseg.records import summary as run_summary
from tests import helpers


def test_the_card_holds_the_data_the_recipe_and_every_figure_with_its_interval():
  summary = helpers.run_summary_of()
  card = summary.model_card.to_json()  # as the release record holds it
  assert model_card.ModelCard.from_json(card) == summary.model_card
  assert card['model_details']['name'] == 'unet_xception'
  assert card['model_details']['version'] is None  # until the Pusher releases it
  assert 'pet, background, border' in card['model_details']['overview']
  data = card['model_parameters']['data']
  assert data['splits']['train'] == {'ingested': 240, 'rejected': 1}
  assert data['rejected_by_reason'] == {'truncated': 1}
  assert data['classes'] == ['pet', 'background', 'border']
  assert card['model_parameters']['recipe']['epochs'] == summary.training.epochs
  assert card['model_parameters']['recipe']['image_size'] == [160, 160]  # JSON
  metrics = card['quantitative_analysis']['performance_metrics']
  assert len(metrics) == 3 * (2 + 3)  # 3 slices: mean IoU, pixel accuracy, 3 classes
  overall = next(m for m in metrics if (m['slice'], m['type']) == ('overall', 'mean_iou'))
  assert overall == {'type': 'mean_iou', 'slice': 'overall', 'value': 0.637,
                     'confidence_interval': {'lower_bound': pytest.approx(0.587),
                                             'upper_bound': pytest.approx(0.687)},
                     'images': 300}
  assert card['quantitative_analysis']['comparison'] is None  # a first release
  assert card['quantitative_analysis']['sensitivity'] == (
      'With 300 test images, the mean IoU is known to \u00b10.050 (95%); the drop the gate '
      'would refuse is measured once a model has been released.')


def test_known_limits_name_the_classes_whose_interval_lies_below_the_mark():
  limits = helpers.run_summary_of().model_card.considerations.limitations
  assert [l for l in limits if l.startswith('border')] == [
      'border: IoU 0.380 (95% interval up to 0.430), below 0.5']
  assert not any(l.startswith(('pet', 'background')) for l in limits)
  assert any('300 test images' in l for l in limits)


def test_the_card_says_how_it_compares_with_the_released_version():
  comparison = comparison_lib.Comparison(
      mean_iou=comparison_lib.Difference('overall', 'mean_iou', 0.637, 0.641, -0.004,
                                         (-0.02, 0.012), 0.01, 300, 40),
      others=(comparison_lib.Difference('species=cat', 'iou/border', 0.35, 0.36, -0.01,
                                        (-0.09, 0.07), 0.02, 12, 40),),
      allowed={'max_mean_iou_drop': 0.01, 'max_slice_drop': 0.02, 'max_class_drop': {}})
  card = helpers.run_summary_of(
      baseline=run_summary.Baseline(3, '/serving/3', 0.641), comparison=comparison,
      sensitivity=comparison_lib.Sensitivity(300, 40, 0.02, 0.016, 0.041)).model_card
  assert card.to_json()['quantitative_analysis']['comparison'] == {
      'baseline_version': 3, 'verdict': 'no detectable change', 'mean_iou_difference': -0.004,
      'confidence_interval': {'lower_bound': -0.02, 'upper_bound': 0.012},
      'not_judged': ['iou/border on species=cat: too few images to judge (n=12)']}
  page = model_card.page(card)
  assert 'Against version 3: no detectable change (mean IoU difference, with its 95% ' \
         'interval, -0.004 [-0.020, 0.012]). Not judged: iou/border on species=cat: too few ' \
         'images to judge (n=12).' in page
  assert ('With 300 test images, the mean IoU is known to \u00b10.020 (95%); a mean-IoU drop '
          "of 0.041 or more below the released model's would be refused 8 times in 10."
          ) in html.unescape(page)


def test_figures_on_too_few_images_show_no_interval_and_say_so():
  scores = helpers.slice_scores(0.6, {'pet': 0.7, 'background': 0.83, 'border': 0.38}, 12)
  scores = dataclasses.replace(scores, intervals=run_summary.Intervals(
      mean_iou=None, pixel_accuracy=None,
      per_class_iou={n: None for n in scores.per_class_iou}))
  card = helpers.run_summary_of(slices={'species=cat': scores},
                                test=scores).model_card
  page = model_card.page(card)
  assert '0.600 (n=12: too few images to judge)' in page
  assert 'border: IoU 0.380 on 12 test images, too few to judge' in (
      card.considerations.limitations)


def test_the_page_escapes_what_it_shows():
  summary = helpers.run_summary_of(class_names=['<pet>', 'background', 'border'])
  page = model_card.page(summary.model_card)
  assert '&lt;pet&gt;' in page and '<pet>' not in page
