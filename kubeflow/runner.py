"""Compiles create_pipeline() for Kubeflow Pipelines v2: open-source KFP 2.x or Vertex AI.

KubeflowV2DagRunner only compiles: it writes the pipeline spec that a cluster runs. Every
step runs in `image`, which must hold this checkout's install (kubeflow/Dockerfile); code
is referenced by import path, so nothing is packaged or uploaded while compiling, and
compiling needs no network. Beam runs in-process in each step unless Beam arguments say
otherwise (Dataflow, Flink, Spark: see kubeflow/README.md).

TFX's spec is then adapted to what both backends run (`adapt`) and checked against what
the target backend refuses (conformance.check).
"""
import copy
import json
import os
import re
from typing import Any, Dict, Optional, Sequence

from tfx.orchestration import data_types
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner
import yaml

from petseg.core import config as config_lib
from petseg.kubeflow import conformance
from petseg.kubeflow import entrypoint
from petseg.pipeline import local_runner
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config

RuntimeParameter = data_types.RuntimeParameter
TFX_ENTRYPOINT = ['python', '-m', 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor']
ENTRYPOINT = ['python', '-m', 'petseg.kubeflow.entrypoint']
_IMPLICIT_INPUT = re.compile(r'_(?P<producer>[^.]+)\.(?P<key>.+)')


def _fix_condition_inputs(task: Dict[str, Any]) -> None:
  """TFX 1.16 compiles a condition on an input the task already has under another name
  (the Pusher's `model_blessing`) as a read of `_Producer.key`, an input the task does not
  have, which every KFP driver fails to evaluate: read the task's own input instead."""
  condition = task.get('triggerPolicy', {}).get('condition')
  if not condition:
    return
  wired = {(a['taskOutputArtifact']['producerTask'], a['taskOutputArtifact']['outputArtifactKey']):
           key for key, a in task.get('inputs', {}).get('artifacts', {}).items()
           if 'taskOutputArtifact' in a}
  for name in conformance.condition_inputs(condition):
    match = _IMPLICIT_INPUT.fullmatch(name)
    own = match and wired.get((match['producer'], match['key']))
    if own:
      condition = condition.replace(f"inputs.artifacts['{name}']",
                                    f"inputs.artifacts['{own}']")
  task['triggerPolicy']['condition'] = condition


def adapt(spec: Dict[str, Any], target: str) -> Dict[str, Any]:
  """TFX's spec made to run on `target`: every step through petseg's entrypoint (see
  kubeflow/entrypoint.py; on open-source KFP, through the launcher's local copies of the
  artifacts), conditions on the tasks' own inputs, and no cache for the nodes that must
  always run (and, on open-source KFP, for the steps whose pre-cache check it does not
  run)."""
  spec = copy.deepcopy(spec)
  for executor in spec['deploymentSpec']['executors'].values():
    container = executor.get('container')
    if container and container['command'] == TFX_ENTRYPOINT:
      container['command'] = list(ENTRYPOINT)
      if target == 'kfp':
        container['args'] = [entrypoint.LOCAL_COPIES_FLAG, *container['args']]
  for name, task in spec['root']['dag']['tasks'].items():
    _fix_condition_inputs(task)
    container = conformance.executor_of(spec, task).get('container', {})
    if name in pipeline_lib.NEVER_CACHED or (
        target == 'kfp' and 'preCacheCheck' in container.get('lifecycle', {})):
      task.setdefault('cachingOptions', {})['enableCache'] = False
  return spec


def runtime_parameters(config: run_config.RunConfig) -> Dict[str, RuntimeParameter]:
  """A pipeline parameter for each runtime parameter (config.RUNTIME_PARAMETERS), its
  default the config's value."""
  values = config.parameter_values()
  return {p.name: RuntimeParameter(name=p.name, ptype=p.ptype, default=values[p.name])
          for p in config_lib.RUNTIME_PARAMETERS}


def compile_pipeline(output: str, image: str, pipeline_root: str, data_dir: str,
                     config: run_config.RunConfig, serving_dir: Optional[str] = None,
                     beam_args: Sequence[str] = (), enable_cache: bool = True,
                     pipeline_name: str = pipeline_lib.PIPELINE_NAME,
                     target: str = 'kfp') -> str:
  """Writes the spec for `target` (conformance.TARGETS) to `output`: .json a PipelineJob
  (spec and parameter values), .yaml a PipelineSpec; returns its absolute path. Raises
  ConfigError, naming the task, when the target would refuse the spec."""
  parameters = runtime_parameters(config)
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      data_dir=data_dir,
      config=config,
      serving_dir=serving_dir or f'{pipeline_root.rstrip("/")}/serving',
      beam_pipeline_args=local_runner.checked_beam_args(beam_args),
      enable_cache=enable_cache,
      runtime_parameters=parameters)
  job = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
          default_image=image, use_pipeline_spec_2_1=True),
  ).run(pipeline, parameter_values={p.name: p.default for p in parameters.values()},
        write_out=False)
  # Schema 2.1, which KFP 2.x and Vertex AI read, can give each parameter its default in
  # the spec itself (TFX only puts them in the job's runtimeConfig), so that a run may
  # leave any of them out.
  for parameter in parameters.values():
    job['pipelineSpec']['root']['inputDefinitions']['parameters'][parameter.name].update(
        defaultValue=parameter.default, isOptional=True)
  job['pipelineSpec'] = adapt(job['pipelineSpec'], target)
  conformance.check(job['pipelineSpec'], target)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, 'w') as f:
    if output.endswith(('.yaml', '.yml')):
      yaml.safe_dump(job['pipelineSpec'], f, sort_keys=True)
    else:
      json.dump(job, f, sort_keys=True, indent=1)
  return os.path.abspath(output)
