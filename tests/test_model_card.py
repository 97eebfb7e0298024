"""The model card, drawn from the release record: what a release is for, the data, the
recipe, metrics with intervals, the comparison with the released version and the known
limits."""
import dataclasses
import html
import json

from petseg.core import comparison as comparison_lib
from petseg.records import model_card
from petseg.records import summary as run_summary
from tests import helpers
from tests import test_run_summary


def test_the_card_holds_the_data_the_recipe_and_every_figure_with_its_interval():
  summary = helpers.run_summary_of()
  page = html.unescape(model_card.page(summary))
  assert 'unet_xception, created 2026-11-22T06:00:00+00:00 by run run-1.' in page
  assert ', version' not in page  # until the Pusher releases it
  assert 'one of 3 classes (pet, background, border)' in page
  assert ('Data: oxford_pets, train 240 (+1 rejected), eval 60 (+0 rejected), test 300 (+0 '
          'rejected); rejected: truncated (1); fingerprint dddddddddddd.') in page
  assert f'epochs {summary.training.epochs}' in page and 'image_size 160x160' in page
  rows = page.count('<tr>') - 1
  assert rows == 3 * (2 + 3)  # 3 slices: mean IoU, pixel accuracy, 3 classes
  assert ('<td style="text-align:left">overall</td><td style="text-align:left">mean_iou</td>'
          '<td>0.637 [0.587, 0.687]</td>') in page
  assert 'No released version to compare with.' in page
  assert ('With 300 test images, the mean IoU is known to \u00b10.050 (95%); the drop the '
          'gate would refuse is measured once a model has been released.') in page
  assert 'unet_xception, version 4,' in model_card.page(summary.released(4, 'now'))


def test_known_limits_name_the_classes_whose_interval_lies_below_the_mark():
  limits = model_card.limitations(helpers.run_summary_of())
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
  page = model_card.page(helpers.run_summary_of(
      baseline=run_summary.Baseline(3, '/serving/3', 0.641), comparison=comparison,
      sensitivity=comparison_lib.Sensitivity(300, 40, 0.02, 0.016, 0.041)))
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
  summary = helpers.run_summary_of(slices={'species=cat': scores}, test=scores)
  assert '0.600 (n=12: too few images to judge)' in model_card.page(summary)
  assert 'border: IoU 0.380 on 12 test images, too few to judge' in (
      model_card.limitations(summary))


def test_the_page_escapes_what_it_shows():
  summary = helpers.run_summary_of(class_names=['<pet>', 'background', 'border'])
  page = model_card.page(summary)
  assert '&lt;pet&gt;' in page and '<pet>' not in page


def test_a_record_that_kept_its_card_apart_gives_the_card_what_it_alone_held():
  """Records written before the card was drawn from them held the toolkit's hierarchy:
  the dataset and the rejections by reason come from it, the rest from the record."""
  summary = run_summary.RunSummary.from_json(json.loads(
      test_run_summary.OLD_RECORD.read_text()))
  assert (summary.dataset, summary.rejected_by_reason) == ('oxford_pets', {})
  page = model_card.page(summary)
  assert 'unet_xception, version 2,' in page and 'Data: oxford_pets, ' in page
  assert 'Against version 1: worse' in page
