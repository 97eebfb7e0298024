"""CuratedSchema: publishes the curated schema that ships with the installed petseg as a
Schema artifact.

TFX's ImportSchemaGen takes a file path fixed where the pipeline is built, which on
Kubeflow is another machine than the one that runs the step. This component finds the
schema in the package where it runs, and checks that it is the schema the pipeline was
built with (`sha256`, executor.digest()): an image holding a different petseg fails here,
not later in training.
"""
from tfx.dsl.component.experimental import annotations
from tfx.dsl.component.experimental import decorators
from tfx.types import standard_artifacts

from petseg.components.curated_schema import executor


@decorators.component
def CuratedSchema(schema_name: annotations.Parameter[str],
                  sha256: annotations.Parameter[str],
                  schema: annotations.OutputArtifact[
                      standard_artifacts.Schema]) -> None:
  """Copies schemas/<schema_name> into `schema`, if its digest is `sha256`."""
  executor.publish(schema_name, sha256, schema.uri)
