"""The ingest report: what was ingested per split, and every item or file that was not.

Written as JSON beside the examples (ingest_report.json in the Examples artifact) and
summarised in the log; too many rejections fail the run with a message saying what to fix.
`IngestReport` is the record; `read` and `load` are its one loader.
"""
import collections
import dataclasses
import json
import posixpath
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from tfx.dsl.io import fileio

from petseg.core import errors


SPLITS = ('train', 'eval', 'test')  # the examples' splits, in this order

# A listed item that could not be ingested; these count towards the reject fraction.
MISSING_IMAGE = 'missing_image'
MISSING_MASK = 'missing_mask'
DUPLICATE_NAME = 'duplicate_name'
BAD_LIST_LINE = 'bad_list_line'
UNREADABLE_IMAGE = 'unreadable_image'
UNREADABLE_MASK = 'unreadable_mask'
UNSUPPORTED_MODE = 'unsupported_mode'
SIZE_MISMATCH = 'size_mismatch'
UNKNOWN_MASK_VALUES = 'unknown_mask_values'
OUTSIDE_DATA_DIR = 'outside_data_dir'
# A file that is present but belongs to no split; reported, not counted as rejected.
NOT_IN_ANY_LIST = 'not_in_any_list'
MACOS_METADATA = 'macos_metadata'
IGNORED_FILE_REASONS = (NOT_IN_ANY_LIST, MACOS_METADATA)


@dataclasses.dataclass(frozen=True)
class Skipped:
  """An item or file that was not ingested, with the file at fault and why."""
  split: Optional[str]
  name: str
  file: str
  reason: str
  detail: str

  @property
  def is_rejection(self) -> bool:
    """Rejections are listed items that failed; the rest are files outside every list."""
    return self.reason not in IGNORED_FILE_REASONS


FILE_NAME = 'ingest_report.json'


def path(examples_uri: str) -> str:
  """Where the report of an Examples artifact is: beside its splits."""
  return posixpath.join(examples_uri, FILE_NAME)


@dataclasses.dataclass(frozen=True)
class SplitCounts:
  ingested: int
  rejected: int
  converted: int
  reject_fraction: float


@dataclasses.dataclass(frozen=True)
class Converted:
  """An item whose image was re-encoded (e.g. CMYK JPEG, 16-bit PNG) to be ingested."""
  split: str
  name: str
  file: str
  detail: str


@dataclasses.dataclass(frozen=True)
class IngestReport:
  dataset: str
  data_dir: str
  splits: Mapping[str, SplitCounts]
  rejected_by_reason: Mapping[str, int]
  ignored_by_reason: Mapping[str, int]
  rejected: Tuple[Skipped, ...]
  ignored_files: Tuple[Skipped, ...]
  converted: Tuple[Converted, ...]

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, data: Mapping[str, Any]) -> 'IngestReport':
    return cls(**{
        **data,
        'splits': {split: SplitCounts(**counts) for split, counts in data['splits'].items()},
        'rejected': tuple(Skipped(**r) for r in data['rejected']),
        'ignored_files': tuple(Skipped(**i) for i in data['ignored_files']),
        'converted': tuple(Converted(**c) for c in data['converted'])})

  def summary_lines(self) -> List[str]:
    """Per split what was ingested, then why items were rejected or files ignored."""
    return [f'{split:>5}: {s.ingested} ingested, {s.rejected} rejected, '
            f'{s.converted} converted' for split, s in self.splits.items()] + self.reason_lines()

  def reason_lines(self) -> List[str]:
    """Why items were rejected and files ignored, with counts; none when nothing was."""
    return [f'{title}: ' + ', '.join(f'{r} ({n})' for r, n in sorted(by_reason.items()))
            for title, by_reason in (('rejected', self.rejected_by_reason),
                                     ('ignored', self.ignored_by_reason)) if by_reason]


def read(report_path: str) -> IngestReport:
  with fileio.open(report_path) as f:
    return IngestReport.from_json(json.load(f))


def load(examples_uri: str) -> IngestReport:
  """The report of an Examples artifact."""
  return read(path(examples_uri))


def write(report: IngestReport, report_path: str) -> None:
  with fileio.open(report_path, 'w') as f:
    f.write(json.dumps(report.to_json(), indent=2))


class IngestError(errors.DataError):
  """The data cannot be used as it is; the message says what to fix and where the report
  is. `report` is the whole report, so that a caller can keep it where the user will look
  (the artifact that held it is discarded when its step fails) and say so in
  `report_path`."""

  def __init__(self, problems: str, report: 'IngestReport', report_path: str):
    super().__init__(problems)
    self.problems, self.report, self.report_path = problems, report, report_path

  def __str__(self) -> str:
    return (f'{self.problems}\nEvery rejected file and why: {self.report_path}. Fix or '
            'remove those files (or their lines in the split lists), or raise '
            '--max-reject-fraction.')


def build(dataset: str, data_dir: str, counts: Mapping[str, int],
          skipped: Iterable[Skipped],
          converted: Iterable[Tuple[str, str, str, str]]) -> IngestReport:
  """Assembles the report from per-split example counts, skipped items and conversions."""
  skipped = sorted(skipped, key=lambda s: (s.split or '', s.reason, s.file))
  rejected = tuple(s for s in skipped if s.is_rejection)
  converted = tuple(Converted(*c) for c in sorted(converted))
  splits = {}
  for split in SPLITS:
    n_rejected = sum(1 for r in rejected if r.split == split)
    n_ingested = counts.get(split, 0)
    splits[split] = SplitCounts(
        ingested=n_ingested, rejected=n_rejected,
        converted=sum(1 for c in converted if c.split == split),
        reject_fraction=n_rejected / max(1, n_ingested + n_rejected))
  ignored = tuple(s for s in skipped if not s.is_rejection)
  return IngestReport(
      dataset=dataset, data_dir=data_dir, splits=splits,
      rejected_by_reason=dict(collections.Counter(r.reason for r in rejected)),
      ignored_by_reason=dict(collections.Counter(i.reason for i in ignored)),
      rejected=rejected, ignored_files=ignored, converted=converted)


def check(report: IngestReport, max_reject_fraction: float, report_path: str,
          splits: Sequence[str] = SPLITS) -> None:
  """Raises IngestError, naming every failing split, when one of `splits` is empty or
  rejects more than it may."""
  failures = []
  for split in splits:
    stats = report.splits[split]
    rejected = [r for r in report.rejected if r.split == split]
    if stats.reject_fraction > max_reject_fraction:
      reasons = collections.Counter(r.reason for r in rejected).most_common()
      examples = ''.join(f'\n  {r.file}: {r.detail}' for r in rejected[:5])
      more = f'\n  ... and {len(rejected) - 5} more' if len(rejected) > 5 else ''
      failures.append(
          f'split {split!r}: {stats.rejected} of {stats.rejected + stats.ingested} '
          f'items were rejected ({stats.reject_fraction:.1%}), more than the allowed '
          f'{max_reject_fraction:.1%}. Reasons: '
          + ', '.join(f'{r} ({n})' for r, n in reasons) + f'.{examples}{more}')
    elif stats.ingested == 0:
      failures.append(
          f'split {split!r} has no examples (data: {report.data_dir}). Add data, or '
          'change --eval-fraction / --test-fraction so that every split gets some.')
  if failures:
    raise IngestError('\n'.join(failures), report, report_path)
