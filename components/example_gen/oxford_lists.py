"""Facts about the Oxford-IIIT Pet dataset shared by its reader and the sample generator."""
import dataclasses
from typing import List, Tuple

# The 37 breeds in the order of the official CLASS_ID (1..37): case-insensitive alphabetical.
# Cat breeds are capitalised, dog breeds are not.
BREEDS = (
    'Abyssinian', 'american_bulldog', 'american_pit_bull_terrier', 'basset_hound', 'beagle',
    'Bengal', 'Birman', 'Bombay', 'boxer', 'British_Shorthair', 'chihuahua', 'Egyptian_Mau',
    'english_cocker_spaniel', 'english_setter', 'german_shorthaired', 'great_pyrenees',
    'havanese', 'japanese_chin', 'keeshond', 'leonberger', 'Maine_Coon', 'miniature_pinscher',
    'newfoundland', 'Persian', 'pomeranian', 'pug', 'Ragdoll', 'Russian_Blue', 'saint_bernard',
    'samoyed', 'scottish_terrier', 'shiba_inu', 'Siamese', 'Sphynx',
    'staffordshire_bull_terrier', 'wheaten_terrier', 'yorkshire_terrier')
SPECIES = {1: 'cat', 2: 'dog'}
LIST_COLUMNS = 'NAME CLASS_ID SPECIES BREED_ID'


def breed_of(name: str) -> str:
  """'american_bulldog_10' -> 'american_bulldog'."""
  return name.rsplit('_', 1)[0]


def species_id(breed: str) -> int:
  return 1 if breed[:1].isupper() else 2


def list_line(name: str) -> str:
  """The official list line for an image name: NAME CLASS_ID SPECIES BREED_ID."""
  breed = breed_of(name)
  species = species_id(breed)
  same_species = [b for b in BREEDS if species_id(b) == species]
  return f'{name} {BREEDS.index(breed) + 1} {species} {same_species.index(breed) + 1}'


@dataclasses.dataclass(frozen=True)
class ListEntry:
  name: str
  species: str
  breed: str


_BOM = b'\xef\xbb\xbf'
_SHOWN = 60  # characters of a bad line quoted in its message


def _shown(line: str) -> str:
  return repr(line if len(line) <= _SHOWN else line[:_SHOWN] + '...')


def parse_list(data: bytes) -> Tuple[List[ListEntry], List[Tuple[str, str]]]:
  """Parses trainval.txt / test.txt; returns the entries and (name, message) per bad line.

  Any bytes are accepted: '#' lines are comments (the official list.txt starts with six
  of them), a UTF-8 byte-order mark is dropped, and a line that is not UTF-8 or not
  "NAME CLASS_ID SPECIES BREED_ID" is a problem naming its line number (the report names
  the file).
  """
  entries, problems = [], []
  for line_no, raw in enumerate(data.removeprefix(_BOM).splitlines(), start=1):
    try:
      line = raw.decode('utf-8').strip()
    except UnicodeDecodeError as e:
      line = raw.decode('utf-8', errors='replace').strip()
      problems.append(((line.split() or [''])[0], f'line {line_no}: not UTF-8 text (byte '
                       f'{raw[e.start]:#04x} at column {e.start + 1}): {_shown(line)}'))
      continue
    if not line or line.startswith('#'):
      continue
    fields = line.split()
    if len(fields) != 4 or not all(f.isdigit() for f in fields[1:]):
      problems.append((fields[0], f'line {line_no}: expected "{LIST_COLUMNS}", '
                       f'got {_shown(line)}'))
      continue
    species = SPECIES.get(int(fields[2]))
    if species is None:
      problems.append((fields[0],
                       f'line {line_no}: SPECIES must be 1 (cat) or 2 (dog), got {fields[2]}'))
      continue
    entries.append(ListEntry(fields[0], species, breed_of(fields[0])))
  return entries, problems
