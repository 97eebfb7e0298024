"""ValidationGate: fails the pipeline, with a readable message, when ExampleValidator found
anomalies.

ExampleValidator only records anomalies; without this gate, training would go on with
data that breaks the schema. Components that must not see such data depend on the gate.
"""
from tfx.dsl.component.experimental import annotations
from tfx.dsl.component.experimental import decorators
from tfx.types import standard_artifacts

from petseg.components.validation_gate import executor


@decorators.component
def ValidationGate(anomalies: annotations.InputArtifact[
    standard_artifacts.ExampleAnomalies]) -> None:
  """Raises executor.DataValidationError when any split has anomalies."""
  executor.check_anomalies(anomalies)
