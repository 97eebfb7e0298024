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


def parse_list(text: str, path: str) -> Tuple[List[ListEntry], List[Tuple[str, str]]]:
  """Parses trainval.txt / test.txt; returns the entries and (name, message) per bad line.

  '#' lines are comments (the official list.txt starts with six of them).
  """
  entries, problems = [], []
  for line_no, line in enumerate(text.splitlines(), start=1):
    line = line.strip()
    if not line or line.startswith('#'):
      continue
    fields = line.split()
    if len(fields) != 4 or not all(f.isdigit() for f in fields[1:]):
      problems.append((fields[0], f'{path}:{line_no}: expected "{LIST_COLUMNS}", got {line!r}'))
      continue
    species = SPECIES.get(int(fields[2]))
    if species is None:
      problems.append((fields[0],
                       f'{path}:{line_no}: SPECIES must be 1 (cat) or 2 (dog), got {fields[2]}'))
      continue
    entries.append(ListEntry(fields[0], species, breed_of(fields[0])))
  return entries, problems
