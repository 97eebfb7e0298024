"""The Oxford-IIIT Pet list format and facts, checked against the official lists."""
from petseg.components.example_gen import oxford_lists
from tests.helpers import shared_data


def test_parse_list_skips_comments_and_names_bad_lines():
  text = b'#Image CLASS-ID SPECIES BREED ID\n\nAbyssinian_1 1 1 1\nbeagle_3 5 2\npug_1 26 3 18\n'
  entries, problems = oxford_lists.parse_list(text)
  assert entries == [oxford_lists.ListEntry('Abyssinian_1', 'cat', 'Abyssinian')]
  assert [name for name, _ in problems] == ['beagle_3', 'pug_1']
  assert problems[0][1].startswith('line 4: expected "NAME CLASS_ID SPECIES BREED_ID"')
  assert problems[1][1].startswith('line 5: SPECIES must be 1 (cat) or 2 (dog)')


def test_list_line_reproduces_every_official_line():
  path = shared_data('oxford-pets-split-lists') / 'trainval.txt'
  lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
  assert len(lines) > 3000
  assert all(oxford_lists.list_line(line.split()[0]) == line for line in lines)
