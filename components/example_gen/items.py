"""What ingestion passes around: candidate items, and why one is rejected (the reasons and
the Skipped record are the ingest report's: records/ingest_report.py)."""
import dataclasses
from typing import Optional, Tuple

from petseg.records.ingest_report import (  # noqa: F401  pylint: disable=unused-import
    MISSING_IMAGE, MISSING_MASK, DUPLICATE_NAME, BAD_LIST_LINE, UNREADABLE_IMAGE,
    UNREADABLE_MASK, UNSUPPORTED_MODE, SIZE_MISMATCH, UNKNOWN_MASK_VALUES,
    OUTSIDE_DATA_DIR, NOT_IN_ANY_LIST, MACOS_METADATA, IGNORED_FILE_REASONS, Skipped)


@dataclasses.dataclass(frozen=True)
class Candidate:
  """One image/mask pair to ingest into `split`.

  File sources give paths and the bytes are read by the Beam worker; in-memory sources
  (TFDS) give the encoded bytes, and the paths only name the item in reports.
  """
  split: str
  name: str
  image_path: str
  mask_path: str
  metadata: Tuple[Tuple[str, str], ...] = ()
  image_bytes: Optional[bytes] = None
  mask_bytes: Optional[bytes] = None


class Rejected(Exception):
  """Raised while decoding a candidate: `file` is at fault for `reason`."""

  def __init__(self, reason: str, file: str, detail: str):
    super().__init__(f'{file}: {detail}')
    self.reason, self.file, self.detail = reason, file, detail
