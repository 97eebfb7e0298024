"""Curated TFDV schemas, one per kind of example (components.sources names each source's),
published by the CuratedSchema step (components/curated_schema/)."""
import os


def schema_path(name: str) -> str:
  """The installed path of schemas/NAME, e.g. folder.pbtxt."""
  return os.path.join(os.path.dirname(__file__), name)
