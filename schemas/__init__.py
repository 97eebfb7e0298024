"""Curated TFDV schemas, one per dataset kind, published by components.curated_schema."""
import os

_SCHEMA_OF_SOURCE = {'oxford_pets': 'oxford_pets.pbtxt', 'tfds': 'oxford_pets.pbtxt',
                     'folder': 'folder.pbtxt'}


def schema_path(source: str) -> str:
  return os.path.join(os.path.dirname(__file__), _SCHEMA_OF_SOURCE[source])
