"""Publishes the curated schema that ships with the installed petseg as a Schema artifact.

TFX's ImportSchemaGen takes a file path fixed where the pipeline is built, which on
Kubeflow is another machine than the one that runs the step. This component finds the
schema in the package where it runs, and checks that it is the schema the pipeline was
built with: an image holding a different petseg fails here, not later in training.
"""
import hashlib
import os

from tfx.dsl.component.experimental import annotations
from tfx.dsl.component.experimental import decorators
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts

from petseg import schemas
from petseg.core import errors

SCHEMA_FILE = 'schema.pbtxt'  # the name SchemaGen and ImportSchemaGen write


def digest(schema_name: str) -> str:
  with open(schemas.schema_path(schema_name), 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


@decorators.component
def CuratedSchema(schema_name: annotations.Parameter[str],
                  sha256: annotations.Parameter[str],
                  schema: annotations.OutputArtifact[
                      standard_artifacts.Schema]) -> None:
  """Copies schemas/<schema_name> into `schema`, if its digest is `sha256`."""
  path = schemas.schema_path(schema_name)
  if digest(schema_name) != sha256:
    raise errors.ConfigError(
        f'{path}: the installed schema is not the one the pipeline was built with (sha256 '
        f'{sha256}); rebuild the image from the checkout that compiled the pipeline')
  fileio.copy(path, os.path.join(schema.uri, SCHEMA_FILE))
