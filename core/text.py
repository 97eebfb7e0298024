"""Free text that people give a record (a rollback's reason): checked once where it enters,
and shown on a terminal as one line that cannot pose as another or drive the terminal."""
import re

from petseg.core import errors

_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f]')


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
  written out as Python writes them in a string (\\n, \\x1b)."""
  return _CONTROL.sub(lambda m: m.group().encode('unicode_escape').decode(), text)
