"""ReleaseRecord: the release record of a run, as pipeline outputs on every orchestrator:
the run summary (JSON, which the Pusher stores beside the model it releases) and the HTML
report (an artifact the Kubeflow Pipelines UI shows)."""
from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact
from tfx.types import standard_artifacts
from tfx.types import value_artifact
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from petseg.components.latest_release import component as latest
from petseg.components.release_record import executor


class RunSummaryArtifact(artifact.Artifact):
  """A directory holding release.json: a run_summary.RunSummary."""
  TYPE_NAME = 'petseg.RunSummary'


class HtmlReport(value_artifact.ValueArtifact):
  """An HTML page in one file. Its type name is the one the Kubeflow Pipelines UI (and
  Vertex AI's) renders as a page."""
  TYPE_NAME = 'system.HTML'

  def encode(self, value: str) -> bytes:
    return value.encode()

  def decode(self, serialized_value: bytes) -> str:
    return serialized_value.decode()


# The artifact types of ours that cross the Kubeflow boundary (see kubeflow/entrypoint.py).
CUSTOM_TYPES = (RunSummaryArtifact, HtmlReport, latest.FreshnessArtifact)


class ReleaseRecordSpec(ComponentSpec):
  PARAMETERS = {
      'pipeline_name': ExecutionParameter(type=str),
      # A Kubeflow placeholder that the backend replaces with the run's id; locally the
      # executor's context has the run id.
      'pipeline_run': ExecutionParameter(type=str),
      'serving_dir': ExecutionParameter(type=str),
  }
  INPUTS = {
      'examples': ChannelParameter(type=standard_artifacts.Examples),
      'model': ChannelParameter(type=standard_artifacts.Model),
      'model_run': ChannelParameter(type=standard_artifacts.ModelRun),
      'evaluation': ChannelParameter(type=standard_artifacts.ModelEvaluation),
      'blessing': ChannelParameter(type=standard_artifacts.ModelBlessing),
      'baseline': ChannelParameter(type=standard_artifacts.Model),
  }
  OUTPUTS = {
      'summary': ChannelParameter(type=RunSummaryArtifact),
      'report': ChannelParameter(type=HtmlReport),
  }


NODE_ID = 'ReleaseRecord'  # the step's id in every pipeline and record


class ReleaseRecord(base_component.BaseComponent):
  """Writes the run summary and the HTML report of an evaluated model."""
  SPEC_CLASS = ReleaseRecordSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
               model_run: types.BaseChannel, evaluation: types.BaseChannel,
               blessing: types.BaseChannel, baseline: types.BaseChannel,
               pipeline_name: str, pipeline_run: str, serving_dir: str):
    super().__init__(spec=ReleaseRecordSpec(
        examples=examples, model=model, model_run=model_run, evaluation=evaluation,
        blessing=blessing, baseline=baseline, pipeline_name=pipeline_name,
        pipeline_run=pipeline_run, serving_dir=serving_dir,
        summary=types.Channel(type=RunSummaryArtifact), report=types.Channel(type=HtmlReport)))
