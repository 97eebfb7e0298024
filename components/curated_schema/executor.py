"""What CuratedSchema does: finds the curated schema in the installed package, checks it
is the one the pipeline was built with, and publishes it as SchemaGen would."""
import hashlib
import os

from tfx.dsl.io import fileio

from petseg import schemas
from petseg.core import errors

SCHEMA_FILE = 'schema.pbtxt'  # the name SchemaGen and ImportSchemaGen write


def digest(schema_name: str) -> str:
  with open(schemas.schema_path(schema_name), 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def publish(schema_name: str, sha256: str, output_uri: str) -> None:
  """Copies schemas/<schema_name> into `output_uri`, if its digest is `sha256`."""
  path = schemas.schema_path(schema_name)
  if digest(schema_name) != sha256:
    raise errors.ConfigError(
        f'{path}: the installed schema is not the one the pipeline was built with (sha256 '
        f'{sha256}); rebuild the image from the checkout that compiled the pipeline')
  fileio.copy(path, os.path.join(output_uri, SCHEMA_FILE))
