"""Errors that the user can fix; their messages name the file or setting and what to do."""


class PetsegError(Exception):
  """Base of the errors that `petseg` reports as one message instead of a traceback."""


class ConfigError(PetsegError, ValueError):
  """A dataset name, setting or config file is wrong."""


class DataError(PetsegError):
  """The data cannot be used as it is: missing layout, too many rejects, anomalies."""


class ReleaseError(PetsegError):
  """A release cannot go ahead as evaluated: the registry changed, or has no room."""
