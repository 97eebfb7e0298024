"""The run's visual report: one self-contained HTML file (pictures inlined), viewable
offline and in the Kubeflow Pipelines UI, which shows an HTML artifact as it is.

It shows the blessing decision, the comparison with the released model, IoU bars with
their 95% intervals (whole split and each slice), the confusion matrix, the training
curves, a grid of image / true mask / predicted mask for a fixed sample of the test split
(the first images by file name), the files ingestion skipped, and the model card.
"""
import base64
import csv
import heapq
import html
import io
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from PIL import Image
import tensorflow as tf
from tfx.dsl.io import fileio

from petseg.core import comparison as comparison_lib
from petseg.core import features
from petseg.core import labels as labels_lib
from petseg.core import overlay
from petseg.core import storage
from petseg.models import input_pipeline
from petseg.records import ingest_report
from petseg.records import model_card
from petseg.records import summary as run_summary

SAMPLE_SIZE = 8
_THUMBNAIL = 192
_RAW_SPEC = {'file_name': tf.io.FixedLenFeature([], tf.string),
             'image': tf.io.FixedLenFeature([], tf.string),
             'mask': tf.io.FixedLenFeature([], tf.string)}
_CSS = '''body{font-family:sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse}td,th{padding:.2em .5em;text-align:right}
.track{position:relative;width:300px;height:1em}.bar{background:#4a7ebb;height:1em}
.ci{position:absolute;top:.4em;height:.2em;background:#222}.grid img{width:%dpx;margin:2px}
.no{color:#b00}.yes{color:#070}''' % _THUMBNAIL


def test_sample(file_patterns: Sequence[str], n: int = SAMPLE_SIZE) -> List[Dict[str, Any]]:
  """The first `n` test records by file name: the same pictures every run. Holds `n`
  records at a time, not the split."""
  parsed = ({k: v.numpy() for k, v in tf.io.parse_single_example(r, _RAW_SPEC).items()}
            for r in input_pipeline.records(file_patterns))
  return heapq.nsmallest(n, parsed, key=lambda p: p['file_name'])


def _thumbnail(picture: Image.Image) -> Image.Image:
  picture = picture.copy()
  picture.thumbnail((_THUMBNAIL, _THUMBNAIL), Image.NEAREST)
  return picture


def _png_data_uri(picture: Image.Image) -> str:
  buffer = io.BytesIO()
  _thumbnail(picture).save(buffer, format='PNG')
  return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode()


def _sample_grid(model_dir: str, file_patterns: Sequence[str],
                 labels: labels_lib.LabelSpec) -> str:
  colours = overlay.class_colours(labels)
  serve = tf.saved_model.load(model_dir).signatures['serving_default']
  rows = []
  for i, record in enumerate(test_sample(file_patterns)):
    predicted = serve(images=tf.constant([record['image']]))[features.CLASS_IDS][0].numpy()
    truth = np.asarray(Image.open(io.BytesIO(record['mask'])))
    pictures = {'image': Image.open(io.BytesIO(record['image'])).convert('RGB'),
                'truth': overlay.colour_mask(truth, colours),
                'predicted': overlay.colour_mask(predicted, colours)}
    cells = [f'<img src="{_png_data_uri(picture)}" alt="sample{i} {kind}">'
             for kind, picture in pictures.items()]
    rows.append(f'<div>{"".join(cells)} {html.escape(record["file_name"].decode())}</div>')
  legend = ' '.join(
      f'<span style="background:rgb{tuple(c)};padding:0 .6em">&nbsp;</span> {html.escape(n)}'
      for n, c in zip(labels.class_names, colours))
  return (f'<p>image, true mask, predicted mask. {legend}; black: ignored</p>'
          f'<div class="grid">{"".join(rows)}</div>')


def _bar(value: Optional[float], interval: Optional[List[float]]) -> str:
  """A bar 300 px for 1.0, with its 95% interval drawn as a whisker over it (the bootstrap's
  bounds lie in [0, 1], so within the bar's track)."""
  if value is None:
    return ''
  if interval:
    low, high = interval
    whisker = (f'<div class="ci" style="left:{round(300 * low)}px;'
               f'width:{max(round(300 * (high - low)), 1)}px"></div>')
  else:
    whisker = ''
  return (f'<div class="track"><div class="bar" style="width:{round(300 * value)}px"></div>'
          f'{whisker}</div>')


def _iou_bars(scores: run_summary.Scores) -> str:
  """Mean IoU and each class's IoU with their 95% intervals, as bars with whiskers."""
  intervals = scores.intervals
  rows = [('mean IoU', scores.mean_iou, intervals.mean_iou, scores.images)] + [
      (name, value, intervals.per_class_iou[name], scores.class_images.get(name))
      for name, value in scores.per_class_iou.items()]
  return '<table>' + ''.join(
      f'<tr><th>{html.escape(name)}</th>'
      f'<td>{comparison_lib.shown(value, interval, "absent", images)}</td>'
      f'<td style="text-align:left">{_bar(value, interval)}</td></tr>'
      for name, value, interval, images in rows) + '</table>'


def _comparison(comparison: Optional[comparison_lib.Comparison]) -> str:
  """Every check against the released model: candidate, released, the difference with
  its interval, the verdict and the drop allowed; those on too few images listed first."""
  if not comparison:
    return '<p>No released model to compare with.</p>'
  not_judged = comparison.not_judged()
  listed = ('' if not not_judged else
            '<p>Too few test images to judge (neither passed nor failed): '
            + html.escape('; '.join(not_judged)) + '.</p>')
  rows = ''.join(
      f'<tr class="{"" if c.passed else "no"}"><td style="text-align:left">'
      f'{html.escape(c.slice)}</td><td style="text-align:left">{html.escape(c.metric)}'
      f'</td><td>{c.candidate:.3f}</td><td>{c.released:.3f}</td>'
      f'<td>{comparison_lib.shown(c.difference, c.interval)}</td>'
      f'<td>{html.escape(c.verdict)}</td>'
      f'<td>{"" if c.bound is None else f"{c.bound:.3f}"}</td>'
      f'<td>{c.allowed_drop:.3f}</td></tr>' for c in comparison.checks)
  rule = ('A check fails when its bound over all checks at once lies below minus the allowed '
          f'drop: {html.escape(comparison.family.sentence())}.' if comparison.family else
          'A check fails when the whole interval lies below minus the allowed drop.')
  return (listed + '<p>Both models on the same test images, paired by name; each difference '
          '(this model minus the released one) with its 95% interval from the same '
          f'resamples. {rule}</p>'
          '<table><tr><th>slice</th><th>metric</th><th>this model</th><th>released</th>'
          '<th>difference [95%]</th><th>verdict</th><th>bound</th><th>allowed drop</th></tr>'
          f'{rows}</table>')


def _confusion_table(matrix: List[List[int]], class_names: Sequence[str]) -> str:
  """Rows: true class; columns: predicted; shaded by the share of the row."""
  head = ''.join(f'<th>{html.escape(n)}</th>' for n in class_names)
  rows = []
  for name, row in zip(class_names, matrix):
    total = max(sum(row), 1)
    cells = ''.join(
        f'<td style="background:rgba(74,126,187,{v / total:.2f})">{v}</td>' for v in row)
    rows.append(f'<tr><th>{html.escape(name)}</th>{cells}</tr>')
  return f'<table><tr><th>true \\ predicted</th>{head}</tr>{"".join(rows)}</table>'


def _curves_svg(history_csv: str) -> str:
  """Loss and mean IoU per epoch (train and eval) as an inline SVG."""
  with fileio.open(history_csv) as f:
    history = list(csv.DictReader(f))
  width, height, pad = 600, 240, 30
  charts = []
  for title, keys in (('loss', ('loss', 'val_loss')),
                      ('mean IoU', ('mean_iou', 'val_mean_iou'))):
    series = {k: [float(r[k]) for r in history] for k in keys if history and k in history[0]}
    top = max((max(v) for v in series.values()), default=1.0) or 1.0
    lines = []
    for key, colour in zip(series, ('#4a7ebb', '#d9822b')):
      values = series[key]
      step = (width - 2 * pad) / max(len(values) - 1, 1)
      points = ' '.join(f'{pad + i * step:.1f},{height - pad - v / top * (height - 2 * pad):.1f}'
                        for i, v in enumerate(values))
      # The legend: one row under the plot, an entry every 200 px.
      lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                   f'points="{points}"/><text x="{pad + 200 * len(lines)}" '
                   f'y="{height - 8}" fill="{colour}">&#9644; {key}</text>')
    charts.append(
        f'<svg width="{width}" height="{height}" role="img"><title>{title}</title>'
        f'<rect width="{width}" height="{height}" fill="none" stroke="#ccc"/>'
        f'<text x="{pad}" y="18">{title} (max {top:.3f}) over {len(history)} epochs</text>'
        f'{"".join(lines)}</svg>')
  return ''.join(charts)


def _decision(summary: run_summary.RunSummary) -> str:
  gate = summary.gate
  said = ('<p class="yes">Blessed.</p>' if summary.blessed else
          '<p class="no">Not blessed: ' + html.escape('; '.join(summary.reasons)) + '</p>')
  baseline = summary.baseline
  release = (f'The Pusher releases it to {summary.serving_dir}, as the next version '
             'unless the newest version already holds this model.' if summary.blessed
             else 'Nothing is released.')
  drop = ('no released model to compare with' if gate.max_mean_iou_drop is None else
          f'not worse than the released model beyond noise by more than '
          f'{gate.max_mean_iou_drop} in mean IoU, {gate.max_slice_drop} in any slice or '
          'class' + ''.join(f', {html.escape(k)} {v}' for k, v in gate.max_class_drop.items()))
  compared = summary.comparison and summary.comparison.mean_iou
  verdict = ('' if not compared else
             f', {html.escape(compared.verdict)} (difference '
             f'{comparison_lib.shown(compared.difference, compared.interval)})')
  return (said + f'<p>Gate: mean IoU &ge; {gate.min_mean_iou}'
          + ''.join(f', {html.escape(k)} IoU &ge; {v}' for k, v in gate.min_class_iou.items())
          + f'; {drop}.</p><p>Baseline: ' + (f'version {baseline.version}, mean IoU '
                                              f'{baseline.mean_iou:.3f} '
                                              f'({html.escape(baseline.model_path)})'
                                              f'{verdict}' if baseline
                                              else 'none (nothing released before)')
          + '</p><p>' + html.escape(release) + '</p>'
          + ('' if not summary.sensitivity else
             f'<p>{html.escape(summary.sensitivity.sentence())}</p>'))


def _skipped(ingest: ingest_report.IngestReport) -> str:
  rows = [f'<tr><td>{html.escape(s.split or "")}</td><td>{html.escape(s.reason)}</td>'
          f'<td style="text-align:left">{html.escape(s.file)}</td>'
          f'<td style="text-align:left">{html.escape(s.detail)}</td></tr>'
          for s in ingest.rejected + ingest.ignored_files]
  if not rows:
    return '<p>None: every listed item was ingested.</p>'
  return ('<table><tr><th>split</th><th>reason</th><th>file</th><th>detail</th></tr>'
          + ''.join(rows) + '</table>')


def write(summary: run_summary.RunSummary, ingest: ingest_report.IngestReport, path: str) -> None:
  """Writes the report of a run (its release record and ingest report) to `path`."""
  labels = summary.labels
  test = summary.test
  body = [
      f'<h1>petseg run: {html.escape(summary.model)}</h1>',
      f'<p>Model: {html.escape(summary.model_path)}</p>',
      '<h2>Release decision</h2>', _decision(summary),
      '<h2>Against the released model</h2>', _comparison(summary.comparison),
      f'<h2>Test split</h2><p>On {summary.data["test"].ingested} images, pixel accuracy '
      f'{comparison_lib.shown(test.pixel_accuracy, test.intervals.pixel_accuracy)}; 95% '
      'intervals from a bootstrap over the test images.</p>',
      _iou_bars(test),
      *(part for name, scores in summary.slices.items()
        for part in (f'<h3>{html.escape(name)}</h3>', _iou_bars(scores))),
      '<h2>Confusion matrix (pixels)</h2>',
      _confusion_table(test.confusion_matrix, summary.class_names),
      '<h2>Training curves</h2>', _curves_svg(storage.openable(summary.training_history)),
      '<h2>Sample of the test split</h2>',
      _sample_grid(storage.openable(summary.model_path),
                   [storage.openable(summary.test_examples)], labels),
      '<h2>Skipped at ingestion</h2>', _skipped(ingest),
      '<h2>Model card</h2>', model_card.section(summary),
  ]
  with fileio.open(path, 'w') as f:
    f.write('<!doctype html><html><head><meta charset="utf-8"><title>petseg run</title>'
            f'<style>{_CSS}</style></head><body>{"".join(body)}</body></html>')
