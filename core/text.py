"""Free text that people give a record (a rollback's reason, a class name, the user's name):
checked once where it enters, and shown on a terminal or a page as one line that cannot
pose as another or drive the terminal."""
import re

from petseg.core import errors

_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f]')
# A byte that is not UTF-8, as Python decodes a command line or the environment.
_UNDECODED = re.compile(r'[\udc80-\udcff]')


def checked(text: str, what: str) -> str:
  """`text` if it is UTF-8 (a command line's bytes that are not arrive as surrogates);
  ConfigError naming `what` otherwise, before anything is changed."""
  try:
    text.encode('utf-8')
  except UnicodeEncodeError:
    raise errors.ConfigError(f'{what}: not UTF-8 text; give it in UTF-8; nothing was '
                             'changed') from None
  return text


def shown(text: str) -> str:
  """`text` for one line of a terminal: control characters (newlines, escape sequences)
  written out as Python writes them in a string (\\n, \\x1b), and bytes that are not UTF-8
  as \\xNN."""
  text = _UNDECODED.sub(lambda m: f'\\x{ord(m.group()) - 0xdc00:02x}', text)
  return _CONTROL.sub(lambda m: m.group().encode('unicode_escape').decode(), text)


def one_line(text: str, what: str) -> str:
  """`text` if it is one line of UTF-8 text without control characters, as a name must be;
  ConfigError naming `what` and showing it otherwise."""
  if shown(text) != text:
    raise errors.ConfigError(f'{what}: {shown(text)!r} holds a control character or a byte '
                             'that is not UTF-8; a name is one line of text')
  return text
