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
import dataclasses
import json
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from tfx.orchestration import data_types
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner
import yaml

from petseg.components.evaluator import component as evaluator_component
from petseg.components.example_gen import component as example_gen
from petseg.components.latest_release import executor as latest
from petseg.components.trainer import component as trainer_component
from petseg.core import config as config_lib
from petseg.core import errors
from petseg.core import storage
from petseg.kubeflow import conformance
from petseg.kubeflow import entrypoint
from petseg.pipeline import beam_args as beam_args_lib
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config

RuntimeParameter = data_types.RuntimeParameter
TFX_ENTRYPOINT = ['python', '-m', 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor']
ENTRYPOINT = ['python', '-m', 'petseg.kubeflow.entrypoint']
TFX_DRIVER = ['python', '-m', 'tfx.orchestration.kubeflow.v2.file_based_example_gen.driver']
DRIVER = ['python', '-m', 'petseg.kubeflow.driver']
_IMPLICIT_INPUT = re.compile(r'_(?P<producer>[^.]+)\.(?P<key>.+)')
# An input given to the tasks that must run on every run, whatever the submission says
# about caching (kfp.Client(...).create_run_from_pipeline_package(enable_caching=True) and
# Vertex's PipelineJob(enable_caching=True) turn every task's cache on): the run's id,
# which the backend puts in the task's cache key. The entrypoint drops it.
RUN_ID_INPUT = entrypoint.RUN_ID_INPUT
SUPPORTED_BACKENDS = conformance.SUPPORTED_BACKENDS
DEFAULT_KFP_VERSION = '.'.join(SUPPORTED_BACKENDS[1].split('.')[:2])
# The bucket of KFP's own object store.
KFP_BUCKET = 'mlpipeline'
# What a GPU is called where each target reads it: a Kubernetes resource name on
# open-source KFP, an accelerator type on Vertex AI.
DEFAULT_GPU_TYPE = {'kfp': 'nvidia.com/gpu', 'vertex': 'NVIDIA_TESLA_T4'}
# The Kubernetes secret with the keys of KFP's own object store, in every namespace that
# runs pipelines (a multi-user install's profile controller makes one per profile).
MINIO_SECRET = 'mlpipeline-minio-artifact'
_SECRET_KEYS = (('accesskey', 'AWS_ACCESS_KEY_ID'), ('secretkey', 'AWS_SECRET_ACCESS_KEY'))


@dataclasses.dataclass(frozen=True)
class StepResources:
  """What a step's container asks for: CPUs, memory in GB, and GPUs (of `gpu_type`)."""
  cpu: float
  memory_gb: float
  gpus: int = 0
  gpu_type: str = ''

  def to_spec(self, target: str) -> Dict[str, Any]:
    """The PipelineSpec `resources` of a container, as `target` reads it: limits, and on
    open-source KFP requests of the same size (so that the pod is scheduled where they
    fit, and is not the first evicted)."""
    spec: Dict[str, Any] = {'cpuLimit': self.cpu, 'memoryLimit': self.memory_gb}
    if target == 'kfp':
      spec.update(cpuRequest=self.cpu, memoryRequest=self.memory_gb)
    if self.gpus:
      spec['accelerator'] = {'type': self.gpu_type or DEFAULT_GPU_TYPE[target],
                             'count': str(self.gpus)}
    return spec


# Every step's default: the Beam steps hold a split's batches and run on the pod's cores;
# the Trainer, the model and its data; the rest read or copy one model or artifact.
_LIGHT = StepResources(cpu=1, memory_gb=4)
_BEAM = StepResources(cpu=2, memory_gb=8)
TRAINER = trainer_component.NODE_ID
DEFAULT_RESOURCES = {example_gen.NODE_ID: _BEAM, pipeline_lib.STATISTICS_GEN: _BEAM,
                     pipeline_lib.TRANSFORM: _BEAM, evaluator_component.NODE_ID: _BEAM,
                     TRAINER: StepResources(cpu=4, memory_gb=16)}


def resources_of(step: str, overrides: Mapping[str, StepResources]) -> StepResources:
  return overrides.get(step) or DEFAULT_RESOURCES.get(step, _LIGHT)


def _version(text: str) -> Tuple[int, ...]:
  return tuple(int(part) for part in text.split('.'))


@dataclasses.dataclass(frozen=True)
class Cluster:
  """The open-source Kubeflow Pipelines install a spec is compiled for: its version (X.Y,
  within SUPPORTED_BACKENDS) and, on a multi-user install, the profile namespace the runs
  are in ('' for a single-user one)."""
  version: str = DEFAULT_KFP_VERSION
  namespace: str = ''

  def __post_init__(self):
    if not re.fullmatch(r'\d+\.\d+(\.\d+)?', self.version) or not (
        _version(SUPPORTED_BACKENDS[0])[:2] <= _version(self.version)[:2]
        <= _version(SUPPORTED_BACKENDS[1])[:2]):
      raise errors.ConfigError(
          f'--kfp-version {self.version}: supported are open-source Kubeflow Pipelines '
          f'{SUPPORTED_BACKENDS[0]} to {SUPPORTED_BACKENDS[1]}, as X.Y')
    if self.namespace and not re.fullmatch(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?', self.namespace):
      raise errors.ConfigError(f'--namespace {self.namespace}: not a Kubernetes namespace')

  def _at_least(self, major: int, minor: int) -> bool:
    return _version(self.version)[:2] >= (major, minor)

  @property
  def store_endpoint(self) -> str:
    """Where the install serves its object store to the pods (the launcher's default,
    backend/src/v2/objectstore/config.go): MinIO up to 2.15, SeaweedFS from 2.16
    (kubeflow/pipelines#12613), at the same port and with the same secret."""
    if self._at_least(2, 16):
      return 'http://seaweedfs.kubeflow:9000'
    return 'http://minio-service.kubeflow:9000'

  @property
  def pipeline_root(self) -> str:
    """The launcher's default pipeline root in the runs' namespace (its kfp-launcher
    ConfigMap, as the profile controller writes it on a multi-user install from 2.15)."""
    if self.namespace and self._at_least(2, 15):
      return f'minio://{KFP_BUCKET}/private-artifacts/{self.namespace}/v2/artifacts'
    return f'minio://{KFP_BUCKET}/v2/artifacts'

  def private_dir(self, *parts: str) -> Optional[str]:
    """A folder in the profile's own prefix of KFP's bucket; None on a single-user one."""
    if not self.namespace:
      return None
    return '/'.join((f'minio://{KFP_BUCKET}/private/{self.namespace}', *parts))

  def path_problems(self, paths: Mapping[str, str]) -> List[str]:
    """The flags whose minio:// path a profile's keys may not write (the profile
    controller's policy, multi-user installs from 2.15): KFP's bucket only under
    artifacts/, shared/, private/NAMESPACE/ and private-artifacts/NAMESPACE/."""
    if not self.namespace or not self._at_least(2, 15):
      return []
    allowed = ('artifacts/', 'shared/', f'private/{self.namespace}/',
               f'private-artifacts/{self.namespace}/')
    bucket = f'minio://{KFP_BUCKET}/'
    found = []
    for flag, path in paths.items():
      if path.startswith(bucket) and not f'{path[len(bucket):].rstrip("/")}/'.startswith(
          allowed):
        found.append(f'{flag} {path}: profile {self.namespace}\'s keys may only write '
                     f'{bucket}' + '{' + ', '.join(allowed) + '}...')
    return found


@dataclasses.dataclass(frozen=True)
class ObjectStore:
  """How the steps reach an S3-compatible store: its endpoint ('' for AWS itself) and the
  Kubernetes secret holding the keys ('accesskey', 'secretkey', as KFP's own), '' where
  the pods have an identity instead (IAM roles for service accounts)."""
  endpoint: str = ''
  secret: str = ''

  @classmethod
  def for_paths(cls, paths: Sequence[str], endpoint: Optional[str],
                secret: Optional[str], cluster: Cluster = Cluster()) -> Optional['ObjectStore']:
    """The store the paths need, None when none is in one: a minio:// path means the
    cluster's own store (Cluster.store_endpoint) unless the flags say otherwise."""
    if not any(storage.of(p) is storage.S3 for p in paths):
      if endpoint or secret:
        raise errors.ConfigError('--s3-endpoint and --s3-secret need an s3:// or minio:// '
                                 'pipeline root, data directory or serving directory')
      return None
    minio = any(storage.in_cluster_store(p) for p in paths)
    return cls(endpoint=cluster.store_endpoint if endpoint is None and minio else endpoint or '',
               secret=MINIO_SECRET if secret is None and minio else secret or '')

  def env(self) -> List[Dict[str, str]]:
    """The container's environment (core/storage.py reads it)."""
    if not self.endpoint:
      return []
    # MinIO and most S3-compatible stores accept any region; the SDKs need one.
    return [{'name': storage.ENDPOINT_ENV, 'value': self.endpoint},
            {'name': 'AWS_REGION', 'value': 'us-east-1'}]

  def secret_as_env(self) -> List[Dict[str, Any]]:
    """The Kubernetes platform spec's secretAsEnv of every step."""
    if not self.secret:
      return []
    return [{'secretName': self.secret,
             'keyToEnv': [{'secretKey': key, 'envVar': env} for key, env in _SECRET_KEYS]}]


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


def _run_every_time(spec: Dict[str, Any], task: Dict[str, Any]) -> None:
  """No cache for the task, and the run's id among its inputs, so that no cache key of
  it repeats even when caching is forced on at submission."""
  task.setdefault('cachingOptions', {})['enableCache'] = False
  task.setdefault('inputs', {}).setdefault('parameters', {})[RUN_ID_INPUT] = {
      'runtimeValue': {'constant': pipeline_lib.PIPELINE_RUN_PLACEHOLDER}}
  component = spec['components'][task['componentRef']['name']]
  component.setdefault('inputDefinitions', {}).setdefault('parameters', {})[RUN_ID_INPUT] = {
      'parameterType': 'STRING'}


def adapt(spec: Dict[str, Any], target: str,
          resources: Optional[Mapping[str, StepResources]] = None,
          store: Optional[ObjectStore] = None,
          gpu_image: Optional[str] = None) -> Dict[str, Any]:
  """TFX's spec made to run on `target`: every step through petseg's entrypoint (see
  kubeflow/entrypoint.py; on open-source KFP, through the launcher's local copies of the
  artifacts) and ExampleGen's pre-cache check through kubeflow/driver.py, with its
  resources (DEFAULT_RESOURCES, `resources` by step) and the object store's endpoint, a
  step given GPUs in `gpu_image`; conditions on the tasks' own inputs; and the nodes that
  must run every time (and, on open-source KFP, the steps whose pre-cache check it does not
  run) never served from a cache."""
  spec = copy.deepcopy(spec)
  for executor in spec['deploymentSpec']['executors'].values():
    container = executor.get('container')
    if container and container['command'] == TFX_ENTRYPOINT:
      container['command'] = list(ENTRYPOINT)
      if target == 'kfp':
        container['args'] = [entrypoint.LOCAL_COPIES_FLAG, *container['args']]
      if store and store.env():
        container['env'] = store.env()
    check = (container or {}).get('lifecycle', {}).get('preCacheCheck', {})
    if check.get('command') == TFX_DRIVER:
      check['command'] = list(DRIVER)
  for name, task in spec['root']['dag']['tasks'].items():
    _fix_condition_inputs(task)
    container = conformance.executor_of(spec, task).get('container')
    if container is not None:
      needs = resources_of(name, resources or {})
      container['resources'] = needs.to_spec(target)
      if needs.gpus and gpu_image:
        container['image'] = gpu_image
    if name in pipeline_lib.NEVER_CACHED or (
        target == 'kfp' and 'preCacheCheck' in (container or {}).get('lifecycle', {})):
      _run_every_time(spec, task)
  return spec


def platform_spec(spec: Dict[str, Any], store: Optional[ObjectStore]) -> Dict[str, Any]:
  """The Kubernetes platform spec (the YAML's second document, which open-source KFP
  reads): every step's object-store keys from the secret; {} when there is none."""
  if not store or not store.secret_as_env():
    return {}
  return {'platforms': {'kubernetes': {'deploymentSpec': {'executors': {
      label: {'secretAsEnv': store.secret_as_env()}
      for label, executor in spec['deploymentSpec']['executors'].items()
      if 'container' in executor}}}}}


def runtime_parameters(config: run_config.RunConfig) -> Dict[str, RuntimeParameter]:
  """A pipeline parameter for each runtime parameter (config.RUNTIME_PARAMETERS), its
  default the config's value, and `retrain` (0: a run with nothing new trains nothing)."""
  values = config.parameter_values()
  return {**{p.name: RuntimeParameter(name=p.name, ptype=p.ptype, default=values[p.name])
             for p in config_lib.RUNTIME_PARAMETERS},
          latest.RETRAIN: RuntimeParameter(name=latest.RETRAIN, ptype=int, default=0)}


def gpu_image_of(image: str) -> str:
  """The GPU build of `image` by the naming kubeflow/Dockerfile suggests: its tag plus
  -gpu (REGISTRY/petseg:0.1.0 -> REGISTRY/petseg:0.1.0-gpu, no tag: latest-gpu)."""
  if '@' in image:
    raise errors.ConfigError(f'--image {image}: named by digest, so its GPU build cannot be '
                             'named from it; give --gpu-image')
  name, _, tag = image.rpartition(':') if ':' in image.rsplit('/', 1)[-1] else (image, '', '')
  return f'{name}:{tag or "latest"}-gpu'


def describe(target: str, cluster: Cluster, store: Optional[ObjectStore]) -> str:
  """What the spec was compiled for, as its pipelineInfo.description says."""
  if target == 'vertex':
    where = conformance.BACKEND_NAMES['vertex']
  else:
    where = f'{conformance.BACKEND_NAMES["kfp"]} {cluster.version}' + (
        f', profile namespace {cluster.namespace}' if cluster.namespace else '')
  return f'petseg, compiled for {where}' + (
      f'; object store {store.endpoint}' if store and store.endpoint else '')


@dataclasses.dataclass(frozen=True)
class Compiled:
  """A written spec: its absolute path, what it was compiled for (its description) and
  the pipeline root to submit it with."""
  path: str
  description: str
  pipeline_root: str


def compile_pipeline(output: str, image: str, pipeline_root: Optional[str], data_dir: str,
                     config: run_config.RunConfig, serving_dir: Optional[str] = None,
                     beam_args: Sequence[str] = (), enable_cache: bool = True,
                     pipeline_name: str = pipeline_lib.PIPELINE_NAME,
                     target: str = 'kfp',
                     resources: Optional[Mapping[str, StepResources]] = None,
                     s3_endpoint: Optional[str] = None,
                     s3_secret: Optional[str] = None,
                     cluster: Cluster = Cluster(),
                     gpu_image: Optional[str] = None) -> Compiled:
  """Writes the spec for `target` (conformance.TARGETS) to `output`: .json a PipelineJob
  (spec and parameter values), .yaml a PipelineSpec (and, where the steps read an object
  store's keys from a secret, the Kubernetes platform spec after it); returns what it
  wrote (Compiled). For open-source KFP, `cluster` says which install: its object store,
  its default pipeline root (taken when `pipeline_root` is None) and, on a multi-user
  install, where the profile may write (the serving directory's default is there). The
  spec carries the pipeline root as its defaultPipelineRoot. `resources` overrides DEFAULT_RESOURCES by
  step; a step given GPUs runs in `gpu_image` (default gpu_image_of(image)). `s3_endpoint`
  and `s3_secret` say how the steps reach an s3:// or minio:// store
  (ObjectStore.for_paths). Raises ConfigError, naming the task or the flag, when the
  target would refuse the spec."""
  if pipeline_root is None:
    if target != 'kfp':
      raise errors.ConfigError(f'--pipeline-root: required for --target {target} (e.g. '
                               'gs://BUCKET/petseg)')
    pipeline_root = cluster.pipeline_root
  serving_dir = (serving_dir or cluster.private_dir('serving', pipeline_name)
                 or f'{pipeline_root.rstrip("/")}/serving')
  problems = cluster.path_problems({'--pipeline-root': pipeline_root, '--data-dir': data_dir,
                                    '--serving-dir': serving_dir})
  if problems:
    raise errors.ConfigError('; '.join(problems))
  if gpu_image is None and any(r.gpus for r in (resources or {}).values()):
    gpu_image = gpu_image_of(image)
  store = ObjectStore.for_paths([pipeline_root, data_dir, serving_dir], s3_endpoint,
                                s3_secret, cluster)
  if store and store.secret and target == 'kfp' and not output.endswith(('.yaml', '.yml')):
    raise errors.ConfigError(f'--output {output}: the steps read the object store\'s keys '
                             f'from the secret {store.secret}, which only a .yaml spec can '
                             'say (its Kubernetes platform spec); write a .yaml')
  parameters = runtime_parameters(config)
  retrain = parameters.pop(latest.RETRAIN)
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      # The steps open these themselves: minio:// as s3:// (the launcher knows minio://).
      data_dir=storage.openable(data_dir),
      config=config,
      serving_dir=storage.openable(serving_dir),
      beam_pipeline_args=beam_args_lib.checked(beam_args),
      enable_cache=enable_cache,
      runtime_parameters=parameters, retrain=retrain)
  parameters[latest.RETRAIN] = retrain
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
  job['pipelineSpec'] = adapt(job['pipelineSpec'], target, resources, store, gpu_image)
  # The open-source backend takes the root from the run, else from the launcher's
  # ConfigMap (not from here: submit with pipeline_root=); Vertex AI's SDK reads it here.
  job['pipelineSpec']['defaultPipelineRoot'] = pipeline_root
  job['pipelineSpec']['pipelineInfo']['description'] = describe(target, cluster, store)
  conformance.check(job['pipelineSpec'], target)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, 'w') as f:
    if output.endswith(('.yaml', '.yml')):
      documents = [job['pipelineSpec'], platform_spec(job['pipelineSpec'], store)]
      yaml.safe_dump_all([d for d in documents if d], f, sort_keys=True)
    else:
      json.dump(job, f, sort_keys=True, indent=1)
  return Compiled(os.path.abspath(output), job['pipelineSpec']['pipelineInfo']['description'],
                  pipeline_root)
