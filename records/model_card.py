"""The model card of a run's model, drawn from its release record (records/summary.py's
RunSummary): what it is for, the data it saw, the recipe, its metrics with their 95%
intervals (whole split, per class, per slice), the comparison with the released version,
what its test split can tell, and its known limits.

An HTML section of the report, and `assets.extra/model_card.html` beside each released
version. Its headings follow Model Card Toolkit's (model details, intended use, data,
quantitative analysis, considerations); the toolkit itself (2.0) requires TFMA < 0.42 and
does not install beside TFX 1.16.
"""
import html
from typing import List, Sequence

from petseg.core import comparison as comparison_lib
from petseg.core import config as config_lib
from petseg.core import confusion
from petseg.records import summary as summary_lib

# A class whose IoU's interval lies below this is named among the known limits.
LOW_IOU = 0.5
# The recipe's settings that say what it is.
_RECIPE = ('recipe', 'epochs', 'max_train_minutes', 'image_size', 'crop_size', 'batch_size',
           'learning_rate', 'loss', 'seed')
_INPUT = ('serving_default: encoded JPEG or PNG images of any size; serving_examples: '
          'tf.Examples as ingested')
_OUTPUT = ('class ids (and per-class probabilities) at each image\'s own size; '
           'serving_class_ids: class ids only')


def limitations(summary: summary_lib.RunSummary) -> List[str]:
  """The known limits: classes absent from the test split, on too few images to judge, or
  whose interval lies below LOW_IOU; and what the test split covers."""
  limits = []
  test = summary.test
  for name, value in test.per_class_iou.items():
    bounds = test.intervals.per_class_iou[name]
    if value is None:
      limits.append(f'{name}: absent from the test split, so not measured')
    elif not bounds:
      limits.append(f'{name}: IoU {value:.3f} on {test.class_images[name]} test images, too '
                    'few to judge')
    elif bounds[1] < LOW_IOU:
      limits.append(f'{name}: IoU {value:.3f} (95% interval up to {bounds[1]:.3f}), below '
                    f'{LOW_IOU}')
  limits.append(f'Measured on {summary.data["test"].ingested} test images at '
                f'{config_lib.format_size(summary.training.image_size)} pixels; images unlike '
                'them (other cameras, scenes, classes) are untested.')
  return limits


def _rows(scores: summary_lib.Scores, slice_name: str) -> List[Sequence[str]]:
  """(slice, metric, value [95% interval]) for each figure of a slice."""
  shown, intervals = comparison_lib.shown, scores.intervals
  rows = [(slice_name, confusion.MEAN_IOU,
           shown(scores.mean_iou, intervals.mean_iou, images=scores.images)),
          (slice_name, confusion.PIXEL_ACCURACY,
           shown(scores.pixel_accuracy, intervals.pixel_accuracy, images=scores.images))]
  return rows + [(slice_name, confusion.class_iou_name(name),
                  shown(value, intervals.per_class_iou[name], images=scores.class_images[name]))
                 for name, value in scores.per_class_iou.items()]


def _compared(summary: summary_lib.RunSummary) -> str:
  comparison = summary.comparison
  if comparison is None or summary.baseline is None:
    return 'No released version to compare with.'
  return (f'Against version {summary.baseline.version}: {comparison.verdict} (mean IoU '
          'difference, with its 95% interval, '
          f'{comparison_lib.shown(comparison.mean_iou.difference, comparison.mean_iou.interval)}).'
          + ''.join(f' Not judged: {item}.' for item in comparison.not_judged()))


def _items(texts: Sequence[str]) -> str:
  return ''.join(f'<li>{html.escape(t)}</li>' for t in texts)


def section(summary: summary_lib.RunSummary) -> str:
  """The card as an HTML fragment."""
  training, names = summary.training, ', '.join(summary.class_names)
  rows = _rows(summary.test, 'overall') + [
      row for name, scores in summary.slices.items() for row in _rows(scores, name)]
  left = ' style="text-align:left"'
  table = ''.join('<tr>' + ''.join(f'<td{left if i < 2 else ""}>{html.escape(cell)}</td>'
                                   for i, cell in enumerate(row)) + '</tr>' for row in rows)
  recipe = ', '.join(f'{k} {config_lib.format_size(v) if isinstance(v, tuple) else v}'
                     for k in _RECIPE for v in [getattr(training, k)] if v not in (None, ''))
  splits = ', '.join(f'{split} {counts.ingested} (+{counts.rejected} rejected)'
                     for split, counts in summary.data.items())
  rejected = ', '.join(f'{r} ({n})' for r, n in sorted(summary.rejected_by_reason.items()))
  version = '' if summary.version is None else f', version {summary.version}'
  dataset = summary.dataset or 'the ingested data'
  precision = summary.sensitivity.sentence() if summary.sensitivity else ''
  use = f'Segmenting images like those of {dataset} into {names}.'
  return (
      f'<p>{html.escape(summary.model)}{version}, created {html.escape(summary.created)} by '
      f'run {html.escape(summary.pipeline_run)}. Semantic segmentation: each pixel of an '
      f'image gets one of {len(summary.class_names)} classes ({html.escape(names)}).</p>'
      f'<p>Intended use:</p><ul>{_items([use])}</ul>'
      f'<p>Input: {html.escape(_INPUT)}. Output: {html.escape(_OUTPUT)}.</p>'
      f'<p>Data: {html.escape(dataset)}, {html.escape(splits)}'
      f'{f"; rejected: {html.escape(rejected)}" if rejected else ""}; fingerprint '
      f'{html.escape(summary.data_fingerprint[:12])}.</p>'
      f'<p>Recipe: {html.escape(recipe)}.</p>'
      f'<p>{html.escape(_compared(summary))}</p>'
      f'<p>{html.escape(precision)}</p>'
      '<table><tr><th>slice</th><th>metric</th><th>value [95% interval]</th></tr>'
      f'{table}</table>'
      f'<p>Known limits:</p><ul>{_items(limitations(summary))}</ul>')


def page(summary: summary_lib.RunSummary) -> str:
  """The card as a page of its own."""
  return ('<!doctype html><html><head><meta charset="utf-8"><title>Model card</title>'
          '</head><body style="font-family:sans-serif;margin:2em;max-width:60em">'
          f'<h1>Model card</h1>{section(summary)}</body></html>')
