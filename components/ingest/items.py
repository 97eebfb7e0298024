"""What ingestion passes around: candidate items, and the reasons an item or file is skipped."""
import dataclasses
from typing import Optional, Tuple

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


class Rejected(Exception):
  """Raised while decoding a candidate: `file` is at fault for `reason`."""

  def __init__(self, reason: str, file: str, detail: str):
    super().__init__(f'{file}: {detail}')
    self.reason, self.file, self.detail = reason, file, detail
