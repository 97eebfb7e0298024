"""The release record of a run, as pipeline outputs on every orchestrator: the run summary
(JSON, which the Pusher stores beside the model it releases) and the HTML report (an
artifact the Kubeflow Pipelines UI shows).
"""
import dataclasses
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types import value_artifact
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from petseg.components.evaluator import component as evaluator
from petseg.components.ingest import ingest_report
from petseg.components.release import latest
from petseg.components.release import log as release_log
from petseg.components.release import manager as release_manager
from petseg.components.release import registry as release_registry
from petseg.components.release import report
from petseg.components.release import run_summary
from petseg.core import storage



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


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    one = {key: artifact_utils.get_single_instance(artifacts)
           for key, artifacts in {**input_dict, **output_dict}.items()}
    baseline = one['baseline']
    version = baseline.get_int_custom_property(release_registry.VERSION)
    ingest = ingest_report.load(one['examples'].uri)
    summary = run_summary.build(
        examples_uri=one['examples'].uri, ingest=ingest, model_uri=one['model'].uri,
        model_run_uri=one['model_run'].uri, evaluation_uri=one['evaluation'].uri,
        blessed=one['blessing'].get_int_custom_property(evaluator.BLESSED_KEY) == 1,
        baseline=({'version': version, 'model_path': baseline.get_string_custom_property(
            release_registry.PATH)} if version else None),
        pipeline=exec_properties['pipeline_name'],
        pipeline_run=self._context.pipeline_run_id or exec_properties['pipeline_run'],
        serving_dir=exec_properties['serving_dir'])
    page = one['report']
    summary = dataclasses.replace(summary, report=storage.durable(page.uri))
    output = one['summary']
    run_summary.write(summary, output.uri)
    output.set_int_custom_property(evaluator.BLESSED_KEY, int(summary.blessed))
    if summary.test.mean_iou is not None:
      output.set_float_custom_property('mean_iou', summary.test.mean_iou)
    fileio.makedirs(os.path.dirname(page.uri))
    report.write(summary, ingest, page.uri)
    if not summary.blessed:  # a blessed model's decision is the Pusher's to log
      serving_dir = exec_properties['serving_dir']
      fileio.makedirs(serving_dir)
      with release_registry.lock(serving_dir):
        release_manager.log(serving_dir, release_log.of_run(release_log.REFUSED,
                                                            summary.to_json()))


NODE_ID = 'ReleaseRecord'  # the step's id in every pipeline and record


class ReleaseRecord(base_component.BaseComponent):
  """Writes the run summary and the HTML report of an evaluated model."""
  SPEC_CLASS = ReleaseRecordSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
               model_run: types.BaseChannel, evaluation: types.BaseChannel,
               blessing: types.BaseChannel, baseline: types.BaseChannel,
               pipeline_name: str, pipeline_run: str, serving_dir: str):
    super().__init__(spec=ReleaseRecordSpec(
        examples=examples, model=model, model_run=model_run, evaluation=evaluation,
        blessing=blessing, baseline=baseline, pipeline_name=pipeline_name,
        pipeline_run=pipeline_run, serving_dir=serving_dir,
        summary=types.Channel(type=RunSummaryArtifact), report=types.Channel(type=HtmlReport)))
