"""LatestRelease: the newest released version as the Evaluator's baseline, and whether the
run has anything new to train on (see executor.py)."""
import json
from typing import Any, Mapping

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from petseg.components.latest_release import executor
from petseg.core import config as config_lib

NODE_ID = 'LatestRelease'  # the step's id in every pipeline and record
# Not read: the registry's state() when the run was built (registry/versions.py), so that
# a local run's cached result is reused only while the registry is unchanged.
REGISTRY_STATE = 'registry_state'


class FreshnessArtifact(artifact.Artifact):
  """Whether the run has anything new (its custom properties; it holds no files): what the
  steps after the registry step are conditioned on, so that they do not each download the
  baseline model for it."""
  TYPE_NAME = 'petseg.Freshness'


class LatestReleaseSpec(ComponentSpec):
  PARAMETERS = {
      'serving_dir': ExecutionParameter(type=str),
      REGISTRY_STATE: ExecutionParameter(type=str, optional=True),
      executor.TRAINING_KEY: ExecutionParameter(type=str),  # the Trainer's custom_config
      executor.RELEASE_KEY: ExecutionParameter(type=str),  # the Evaluator's ReleaseConfig
      executor.RETRAIN: ExecutionParameter(type=int),
      'pipeline_name': ExecutionParameter(type=str),
      # A Kubeflow placeholder that the backend replaces with the run's id; locally the
      # executor's context has the run id.
      'pipeline_run': ExecutionParameter(type=str),
      **{p.name: ExecutionParameter(type=p.ptype) for p in config_lib.RUNTIME_PARAMETERS},
  }
  INPUTS = {'examples': ChannelParameter(type=standard_artifacts.Examples)}
  OUTPUTS = {'baseline': ChannelParameter(type=standard_artifacts.Model),
             'freshness': ChannelParameter(type=FreshnessArtifact)}


class LatestRelease(base_component.BaseComponent):
  """The newest released version in `serving_dir` as the Evaluator's baseline, and whether
  the run has anything new (see the module's doc). `training` is the Trainer's
  custom_config, `release` the ReleaseConfig; `parameters` holds a value, or a
  RuntimeParameter, for each runtime parameter (config.RUNTIME_PARAMETERS) and RETRAIN."""
  SPEC_CLASS = LatestReleaseSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, serving_dir: str,
               training: Mapping[str, Any], release: config_lib.ReleaseConfig,
               parameters: Mapping[str, Any], pipeline_name: str, pipeline_run: str,
               registry_state: str = ''):
    super().__init__(spec=LatestReleaseSpec(
        examples=examples, serving_dir=serving_dir, registry_state=registry_state,
        pipeline_name=pipeline_name, pipeline_run=pipeline_run,
        training=json.dumps(dict(training), sort_keys=True),
        release=json.dumps(config_lib.without_parameters('release', release.to_json()),
                           sort_keys=True),
        **{name: parameters[name] for name in
           (executor.RETRAIN, *(p.name for p in config_lib.RUNTIME_PARAMETERS))},
        baseline=types.Channel(type=standard_artifacts.Model),
        freshness=types.Channel(type=FreshnessArtifact)))
