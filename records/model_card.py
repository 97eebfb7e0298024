"""The model card of a run's model: what it is for, the data it saw, the recipe, its
metrics with their 95% intervals (whole split, per class, per slice), the comparison with
the released version, and its known limits.

As JSON in the run summary (and so in each released version's release record) and as
HTML: a section of the report, and `assets.extra/model_card.html` beside each released
version. The fields follow Model Card Toolkit's schema (model_details, model_parameters,
quantitative_analysis, considerations); the toolkit itself (2.0) requires TFMA < 0.42 and
does not install beside TFX 1.16.
"""
import dataclasses
import html
from typing import Any, Dict, List, Optional, Sequence

from petseg.core import comparison as comparison_lib
from petseg.core import config as config_lib
from petseg.core import confusion
from petseg.core import records
from petseg.records import ingest_report as ingest_lib

# A class whose IoU's interval lies below this is named among the known limits.
LOW_IOU = 0.5

# The release record's key for the card; the Pusher fills in the version it releases.
KEY = 'model_card'


@dataclasses.dataclass(frozen=True)
class Bounds:
  """A 95% interval, as the toolkit names its ends."""
  lower_bound: float
  upper_bound: float


@dataclasses.dataclass(frozen=True)
class ModelDetails:
  name: str
  overview: str
  version: Optional[int]  # None until the Pusher releases it
  created: str
  pipeline: str
  pipeline_run: str


@dataclasses.dataclass(frozen=True)
class CardData:
  dataset: str
  classes: List[str]
  splits: Dict[str, Dict[str, int]]  # split -> {ingested, rejected}
  rejected_by_reason: Dict[str, int]
  fingerprint: str
  ingest_report: str


@dataclasses.dataclass(frozen=True)
class ModelParameters:
  model_architecture: str
  input_format: str
  output_format: str
  data: CardData
  recipe: Dict[str, Any]  # the recipe's settings that say what it is


@dataclasses.dataclass(frozen=True)
class PerformanceMetric:
  type: str
  slice: str
  value: Optional[float]  # None: the class is absent from the slice
  confidence_interval: Optional[Bounds]  # None on too few images to judge
  images: Optional[int]


@dataclasses.dataclass(frozen=True)
class CardComparison:
  baseline_version: int
  verdict: str
  mean_iou_difference: float
  confidence_interval: Optional[Bounds]
  not_judged: List[str]


@dataclasses.dataclass(frozen=True)
class QuantitativeAnalysis:
  performance_metrics: List[PerformanceMetric]
  comparison: Optional[CardComparison]  # None on a first release
  sensitivity: str


@dataclasses.dataclass(frozen=True)
class Considerations:
  use_cases: List[str]
  limitations: List[str]


@dataclasses.dataclass(frozen=True)
class ModelCard:
  model_details: ModelDetails
  model_parameters: ModelParameters
  quantitative_analysis: QuantitativeAnalysis
  considerations: Considerations
  blessed: bool

  def released_as(self, version: int) -> 'ModelCard':
    return dataclasses.replace(
        self, model_details=dataclasses.replace(self.model_details, version=version))

  def to_json(self) -> Dict[str, Any]:
    return records.fields_to_json(self)

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'ModelCard':
    return records.fields_from_json(cls, data, 'model card')


def _interval(bounds: Optional[Sequence[float]]) -> Optional[Bounds]:
  return Bounds(bounds[0], bounds[1]) if bounds else None


def _performance(scores, slice_name: str) -> List[PerformanceMetric]:
  """Each figure of a slice's run_summary.Scores with its interval and the test images it
  rests on."""
  intervals = scores.intervals
  rows = [PerformanceMetric('mean_iou', slice_name, scores.mean_iou,
                            _interval(intervals.mean_iou), scores.images),
          PerformanceMetric('pixel_accuracy', slice_name, scores.pixel_accuracy,
                            _interval(intervals.pixel_accuracy), scores.images)]
  rows += [PerformanceMetric(confusion.class_iou_name(name), slice_name, value,
                             _interval(intervals.per_class_iou[name]),
                             scores.class_images[name])
           for name, value in scores.per_class_iou.items()]
  return rows


def _limitations(summary, test_images: int) -> List[str]:
  limits = []
  for name, value in summary.test.per_class_iou.items():
    bounds = summary.test.intervals.per_class_iou[name]
    if value is None:
      limits.append(f'{name}: absent from the test split, so not measured')
    elif not bounds:
      limits.append(f'{name}: IoU {value:.3f} on {summary.test.class_images[name]} test '
                    'images, too few to judge')
    elif bounds[1] < LOW_IOU:
      limits.append(f'{name}: IoU {value:.3f} (95% interval up to {bounds[1]:.3f}), below '
                    f'{LOW_IOU}')
  limits.append(f'Measured on {test_images} test images at '
                f'{config_lib.format_size(summary.training.image_size)} pixels; images unlike '
                'them (other cameras, scenes, classes) are untested.')
  return limits


def build(summary, ingest: ingest_lib.IngestReport) -> ModelCard:
  """The card of `summary`'s model (a run_summary.RunSummary), with the data's `ingest`
  report; `model_details.version` is None until the Pusher releases it."""
  training = summary.training
  comparison = summary.comparison
  return ModelCard(
      model_details=ModelDetails(
          name=summary.model,
          overview=(f'Semantic segmentation: each pixel of an image gets one of '
                    f'{len(summary.class_names)} classes ({", ".join(summary.class_names)}).'),
          version=None, created=summary.created, pipeline=summary.pipeline,
          pipeline_run=summary.pipeline_run),
      model_parameters=ModelParameters(
          model_architecture=summary.model,
          input_format=('serving_default: encoded JPEG or PNG images of any size; '
                        'serving_examples: tf.Examples as ingested'),
          output_format=('class ids (and per-class probabilities) at each image\'s own '
                         'size; serving_class_ids: class ids only'),
          data=CardData(
              dataset=ingest.dataset, classes=list(summary.class_names),
              splits=records.encode(summary.data),
              rejected_by_reason=dict(ingest.rejected_by_reason),
              fingerprint=summary.data_fingerprint, ingest_report=summary.ingest_report),
          recipe={k: records.encode(getattr(training, k)) for k in (
              'recipe', 'epochs', 'max_train_minutes', 'image_size', 'crop_size', 'batch_size',
              'learning_rate', 'loss', 'seed')}),
      quantitative_analysis=QuantitativeAnalysis(
          performance_metrics=_performance(summary.test, 'overall') + [
              row for name, scores in summary.slices.items()
              for row in _performance(scores, name)],
          comparison=None if comparison is None else CardComparison(
              baseline_version=summary.baseline.version, verdict=comparison.verdict,
              mean_iou_difference=comparison.mean_iou.difference,
              confidence_interval=_interval(comparison.mean_iou.interval),
              not_judged=comparison.not_judged()),
          sensitivity=summary.sensitivity.sentence()),
      considerations=Considerations(
          use_cases=[f'Segmenting images like those of {ingest.dataset} into '
                     f'{", ".join(summary.class_names)}.'],
          limitations=_limitations(summary, summary.data['test'].ingested)),
      blessed=summary.blessed)


def _shown(value: Optional[float], interval: Optional[Bounds],
           images: Optional[int] = None) -> str:
  return comparison_lib.shown(
      value, interval and (interval.lower_bound, interval.upper_bound), images=images)


def _items(texts: List[str]) -> str:
  return ''.join(f'<li>{html.escape(t)}</li>' for t in texts)


def section(card: ModelCard) -> str:
  """The card as an HTML fragment."""
  details, parameters = card.model_details, card.model_parameters
  analysis, considerations = card.quantitative_analysis, card.considerations
  data = parameters.data
  rows = ''.join(
      f'<tr><td style="text-align:left">{html.escape(m.slice)}</td>'
      f'<td style="text-align:left">{html.escape(m.type)}</td>'
      f'<td>{_shown(m.value, m.confidence_interval, m.images)}</td></tr>'
      for m in analysis.performance_metrics)
  comparison = analysis.comparison
  compared = ('No released version to compare with.' if comparison is None else
              f'Against version {comparison.baseline_version}: {comparison.verdict} '
              f'(mean IoU difference, with its 95% interval, '
              f'{_shown(comparison.mean_iou_difference, comparison.confidence_interval)}).'
              + ''.join(f' Not judged: {item}.' for item in comparison.not_judged))
  recipe = ', '.join(f'{k} {v}' for k, v in parameters.recipe.items() if v not in (None, ''))
  splits = ', '.join(f'{split} {counts["ingested"]} (+{counts["rejected"]} rejected)'
                     for split, counts in data.splits.items())
  rejected = ', '.join(f'{r} ({n})' for r, n in sorted(data.rejected_by_reason.items()))
  return (
      f'<p>{html.escape(details.name)}'
      f'{"" if details.version is None else f", version {details.version}"}, created '
      f'{html.escape(details.created)} by run {html.escape(details.pipeline_run)}. '
      f'{html.escape(details.overview)}</p>'
      f'<p>Intended use:</p><ul>{_items(considerations.use_cases)}</ul>'
      f'<p>Data: {html.escape(data.dataset)}, {html.escape(splits)}'
      f'{f"; rejected: {html.escape(rejected)}" if rejected else ""}. Classes: '
      f'{html.escape(", ".join(data.classes))}.</p>'
      f'<p>Recipe: {html.escape(recipe)}.</p>'
      f'<p>{html.escape(compared)}</p>'
      f'<p>{html.escape(analysis.sensitivity)}</p>'
      '<table><tr><th>slice</th><th>metric</th><th>value [95% interval]</th></tr>'
      f'{rows}</table>'
      f'<p>Known limits:</p><ul>{_items(considerations.limitations)}</ul>')


def page(card: ModelCard) -> str:
  """The card as a page of its own."""
  return ('<!doctype html><html><head><meta charset="utf-8"><title>Model card</title>'
          '</head><body style="font-family:sans-serif;margin:2em;max-width:60em">'
          f'<h1>Model card</h1>{section(card)}</body></html>')
