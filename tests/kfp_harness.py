"""Executes a compiled pipeline spec task by task, the way a Kubeflow backend does. A test
harness, not a product runner: it stands in for the cluster that these machines lack, and
is as strict as the backend's own Go code (kubeflow/pipelines backend/src/v2: driver,
component/launcher_v2.go, metadata, objectstore), version by version.

The object store is a real S3 API server (tests/s3_server.py); the harness reaches it with
boto3, as the launcher does with its own client, and the pods reach it at the address the
cluster serves it (open-source KFP: minio-service.kubeflow:9000 up to 2.15,
seaweedfs.kubeflow:9000 from 2.16, backend/src/v2/objectstore/config.go), mapped to the
server here: a step given any other in-cluster address fails as an unknown host would.
Each task runs its own container `command`/`args` from the spec, as written, in a fresh
process of the image the container names (kubeflow/Dockerfile replayed,
tests/image_replay.py; an image the cluster's registry lacks cannot be pulled): its
`python`, from its WORKDIR (a fresh copy in the pod), with only the environment the
spec gives it: the image's (PATH, ENV), the container's `env`, and the Kubernetes platform
spec's `secretAsEnv` filled from the cluster's secrets. "The pod" is a temporary directory
standing in for its /. The pipeline root is the run's, else (open-source KFP) the
launcher ConfigMap's defaultPipelineRoot (backend/src/v2/driver: the backend never reads
the spec's) or (Vertex AI's SDK) the spec's defaultPipelineRoot. Its `executor_input` is
built as each flavour's driver builds it:

- 'kfp', open-source KFP, at backend `version` (conformance.SUPPORTED_BACKENDS, both ends):
  input artifacts rebuilt from ML Metadata: named by their MLMD id, a URI, and metadata
  as MLMD stored it (numbers as doubles, booleans as 0/1, lists and structs wrapped in
  {"list": ...} / {"struct": ...}, a null refused; `display_name` and
  `store_session_info` added), no type; outputs at RUN_ROOT/TASK/ID/KEY with the
  component's declared type, plus the launcher's own `executor-logs`; the executor output
  file in the pod at /tmp/kfp_outputs/ (2.5) or beside the outputs' local copies under the
  task root (2.15 and later); constant inputs that are exactly one of the version's
  placeholders replaced (the create and schedule times from 2.16); no pre-cache check;
  inputs downloaded from the store to their local copies (/minio/BUCKET/KEY, /s3/...,
  /gcs/...) before the step, object by object under the URI as a key prefix (no empty
  directories; from 2.17 keys not under it as a folder are skipped), output folders'
  parents made, and each output's local copy uploaded after it,
  file by file, a missing one only a warning.
- 'vertex', Vertex AI Pipelines: typed input artifacts named by resource name; the
  container's pre-cache check run first, its parameters merged into the inputs (and the
  cache key); the executor output file in the store under the task's root; artifacts
  read and written where they are.

Both: run parameters type-checked against the spec and unknown ones refused; tasks in
dependency order; trigger conditions evaluated with a real CEL implementation
(cel-python) against the task's inputs; a task skipped by its condition produces nothing,
and a task that depends on a skipped one is skipped too (Argo's depends on `.Succeeded`;
Vertex AI is taken to do the same);
the executor output parsed strictly (an unknown field fails the task, as protojson does);
a cached task (cachingOptions.enableCache and the same fingerprint of image, command,
arguments, inputs and outputs' types as an earlier execution) reuses that execution's
outputs; the launcher records an output under the URI the step reports.
"""
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib import parse

import celpy
from google.protobuf import json_format
from kfp.client import client as kfp_client
from kfp.pipeline_spec import pipeline_spec_pb2

from petseg.core import storage
from petseg.kubeflow import conformance
from petseg.kubeflow import entrypoint
from tests import image_replay

FLAVOURS = ('kfp', 'vertex')
OLDEST, NEWEST = conformance.SUPPORTED_BACKENDS
# The launcher's default pipeline root (backend/src/v2/config/env.go), where the namespace's
# kfp-launcher ConfigMap sets none.
LAUNCHER_DEFAULT_ROOT = 'minio://mlpipeline/v2/artifacts'
# Run parameters as the API checks them against the spec's parameterType.
_PARAMETER_TYPES = {
    'STRING': lambda v: isinstance(v, str),
    'NUMBER_INTEGER': lambda v: isinstance(v, int) and not isinstance(v, bool) or (
        isinstance(v, float) and v.is_integer()),
    'NUMBER_DOUBLE': lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    'BOOLEAN': lambda v: isinstance(v, bool),
    'LIST': lambda v: isinstance(v, list),
    'STRUCT': lambda v: isinstance(v, dict),
}


class TaskFailed(AssertionError):
  pass


@dataclasses.dataclass
class TaskRun:
  state: str  # 'ran', 'cached' or 'skipped'
  outputs: Dict[str, Dict[str, Any]]  # output key -> recorded artifact
  log: str = ''


def _version(text: str) -> Tuple[int, ...]:
  return tuple(int(part) for part in text.split('.'))


def _topological(tasks: Dict[str, Any]) -> List[str]:
  order, done = [], set()
  while len(order) < len(tasks):
    ready = sorted(name for name, task in tasks.items() if name not in done
                   and set(task.get('dependentTasks', [])) <= done)
    if not ready:
      raise TaskFailed(f'the spec\'s tasks have a cycle: {sorted(set(tasks) - done)}')
    order += ready
    done |= set(ready)
  return order


def store_service(version: str) -> str:
  """host:port of the object store an open-source install of `version` serves its pods
  (backend/src/v2/objectstore/config.go: MinIO's service up to 2.15, SeaweedFS's from
  2.16, kubeflow/pipelines#12613)."""
  return ('seaweedfs.kubeflow:9000' if _version(version) >= (2, 16)
          else 'minio-service.kubeflow:9000')


def load(path: str, force_caching: Optional[bool] = None) -> Tuple[Dict, Dict]:
  """(PipelineSpec, platform spec) of a compiled package, read as the KFP SDK reads it
  for submission, with every task's caching set to `force_caching` as the SDK's
  enable_caching does (None: as compiled)."""
  if path.endswith('.json'):
    with open(path) as f:
      spec = json_format.ParseDict(json.load(f)['pipelineSpec'],
                                   pipeline_spec_pb2.PipelineSpec())
    platform = pipeline_spec_pb2.PlatformSpec()
  else:
    document = kfp_client._extract_pipeline_yaml(path)  # pylint: disable=protected-access
    spec, platform = document.pipeline_spec, document.platform_spec
  if force_caching is not None:
    kfp_client._override_caching_options(spec, force_caching)  # pylint: disable=protected-access
  return json_format.MessageToDict(spec), json_format.MessageToDict(platform)


def _mlmd_value(key: str, value: Any) -> Any:
  """A metadata value as open-source KFP stores it in ML Metadata and reads it back
  (metadata/converter.go: StructValueToMLMDValue, then toRuntimeArtifact)."""
  if isinstance(value, bool):
    return float(int(value))
  if isinstance(value, (int, float)):
    return float(value)
  if isinstance(value, str):
    return value
  if isinstance(value, list):
    return {'list': value}
  if isinstance(value, dict):
    return {'struct': value}
  raise TaskFailed(f'metadata {key}={value!r}: unknown/unsupported value type for ML '
                   'Metadata')


class Backend:
  """One Kubeflow backend: its ML Metadata (artifact ids), its cache, its object store
  (an S3 API server: `s3`, a boto3 client), its secrets ({name: {key: value}}), the images
  its registry holds ({name: image}) and, open-source, the launcher's default pipeline root
  in the runs' namespace (its kfp-launcher ConfigMap)."""

  def __init__(self, flavour: str, work_dir: str, s3, s3_env: Dict[str, str],
               version: str = NEWEST, secrets: Optional[Dict[str, Dict[str, str]]] = None,
               images: Optional[Mapping[str, image_replay.Image]] = None,
               launcher_root: str = LAUNCHER_DEFAULT_ROOT):
    assert flavour in FLAVOURS, flavour
    self.flavour = flavour
    self.version = version
    self.work_dir = work_dir
    self.s3 = s3
    # The store's endpoint on this machine, and the keys of a pod identity (Vertex AI)
    self.s3_env = s3_env
    self.secrets = secrets or {}
    self.images = dict(images or {})
    self.launcher_root = launcher_root
    self._cache: Dict[str, Dict[str, Dict[str, Any]]] = {}
    self._ids = 0
    self._runs = 0

  @property
  def version(self) -> str:
    return self._version

  @version.setter
  def version(self, version: str) -> None:
    """An upgrade keeps the cache and ML Metadata, as a cluster's does."""
    if not _version(OLDEST) <= _version(version) <= _version(NEWEST):
      raise ValueError(f'backend {version} is outside the supported range '
                       f'{OLDEST}-{NEWEST}')
    self._version = version

  # The object store ----------------------------------------------------------------------

  @staticmethod
  def _bucket_key(uri: str) -> Tuple[str, str]:
    bucket, _, key = storage.openable(uri).split('://', 1)[1].partition('/')
    return bucket, key

  def read(self, uri: str) -> bytes:
    bucket, key = self._bucket_key(uri)
    return self.s3.get_object(Bucket=bucket, Key=key)['Body'].read()

  def _listed(self, uri: str) -> Tuple[str, str, List[str]]:
    """(bucket, key prefix, every object key with that prefix) of `uri`."""
    bucket, prefix = self._bucket_key(uri)
    pages = self.s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix)
    return bucket, prefix, [o['Key'] for page in pages for o in page.get('Contents', [])]

  def keys(self, uri: str) -> List[str]:
    """Every object key under `uri` (as a prefix), relative to it."""
    _, prefix, keys = self._listed(uri)
    return [key[len(prefix):].lstrip('/') for key in keys]

  def _download(self, uri: str, local: str) -> None:
    """objectstore.DownloadBlob: every object with the key prefix, file by file."""
    bucket, prefix, keys = self._listed(uri)
    for key in keys:
      if _version(self.version) >= (2, 17) and key != prefix and not key.startswith(
          prefix.rstrip('/') + '/'):
        continue  # isBlobKeyUnderPrefix
      path = os.path.normpath(os.path.join(local, os.path.relpath(key, prefix)))
      os.makedirs(os.path.dirname(path), exist_ok=True)
      self.s3.download_file(bucket, key, path)

  def _upload(self, local: str, uri: str) -> bool:
    """objectstore.UploadBlob: a file, or a directory's files (empty folders are lost);
    False when nothing is there (the launcher warns and goes on)."""
    if not os.path.exists(local):
      return False
    bucket, key = self._bucket_key(uri)
    if os.path.isfile(local):
      self.s3.upload_file(local, bucket, key)
      return True
    for folder, _, files in os.walk(local):
      for name in files:
        path = os.path.join(folder, name)
        self.s3.upload_file(path, bucket,
                            f'{key}/{os.path.relpath(path, local).replace(os.sep, "/")}')
    return True

  # Running -------------------------------------------------------------------------------

  def pipeline_root(self, spec: Dict[str, Any], submitted: Optional[str]) -> str:
    """The run's pipeline root: the one submitted with it, else the launcher's (open
    source; the spec's defaultPipelineRoot is not read there) or the spec's (Vertex AI's
    SDK). ValueError where Vertex AI has none."""
    if submitted:
      return submitted
    if self.flavour == 'kfp':
      return self.launcher_root
    if not spec.get('defaultPipelineRoot'):
      raise ValueError('no pipeline root: neither the submission nor the spec gives one')
    return spec['defaultPipelineRoot']

  def run(self, spec: Dict[str, Any], pipeline_root: Optional[str] = None,
          parameters: Optional[Dict[str, Any]] = None,
          platform: Optional[Dict[str, Any]] = None) -> Dict[str, TaskRun]:
    """Runs the whole DAG once, with the pipeline root submitted (None: as the backend
    chooses one, see pipeline_root); returns each task's run. Raises TaskFailed naming
    the task whose step, condition or wiring fails, and ValueError for run parameters the
    API refuses."""
    pipeline_root = self.pipeline_root(spec, pipeline_root)
    self._runs += 1
    run_id = f'run-{self._runs}-0000-{self.flavour}-{self.version}'
    definitions = spec['root'].get('inputDefinitions', {}).get('parameters', {})
    unknown = set(parameters or {}) - set(definitions)
    if unknown:
      raise ValueError(f'unknown run parameters: {sorted(unknown)}')
    for name, value in (parameters or {}).items():
      if not _PARAMETER_TYPES[definitions[name]['parameterType']](value):
        raise ValueError(f'run parameter {name}={value!r} is not a '
                         f'{definitions[name]["parameterType"]}')
    values = {name: definition.get('defaultValue') for name, definition in definitions.items()}
    values.update(parameters or {})
    run_root = (f'{pipeline_root.rstrip("/")}/{spec["pipelineInfo"]["name"]}/{run_id}'
                if self.flavour == 'kfp' else pipeline_root.rstrip('/'))
    executors = (platform or {}).get('platforms', {}).get('kubernetes', {}).get(
        'deploymentSpec', {}).get('executors', {})
    runs: Dict[str, TaskRun] = {}
    tasks = spec['root']['dag']['tasks']
    for name in _topological(tasks):
      runs[name] = self._task(spec, name, tasks[name], runs, values, run_root, run_id,
                              executors)
    return runs

  def _placeholder(self, constant: str, run_id: str, task_name: str) -> str:
    """driver.resolveInputParameter: a constant that is exactly a placeholder."""
    substitutes = {'{{$.pipeline_job_name}}': f'{run_id} (display name)',
                   '{{$.pipeline_job_resource_name}}': f'runs/{run_id}',
                   '{{$.pipeline_job_uuid}}': run_id,
                   '{{$.pipeline_task_name}}': task_name,
                   '{{$.pipeline_task_uuid}}': str(self._ids + 1)}
    if _version(self.version) >= (2, 16):
      substitutes.update({'{{$.pipeline_job_create_time_utc}}': '2026-01-01T00:00:00Z',
                          '{{$.pipeline_job_schedule_time_utc}}': '2026-01-01T00:00:00Z'})
    return substitutes.get(constant, constant)

  def _parameter(self, spec_value: Dict[str, Any], values, run_id, task_name):
    if 'componentInputParameter' in spec_value:
      return values[spec_value['componentInputParameter']]
    if 'runtimeValue' in spec_value:
      constant = spec_value['runtimeValue']['constant']
      return (self._placeholder(constant, run_id, task_name) if isinstance(constant, str)
              else constant)
    raise TaskFailed(f'task {task_name}: parameter source not supported by the harness: '
                     f'{spec_value}')

  def _input_artifact(self, recorded: Dict[str, Any]) -> Dict[str, Any]:
    if self.flavour == 'kfp':  # rebuilt from ML Metadata: no type
      return {'name': recorded['id'], 'uri': recorded['uri'],
              'metadata': recorded['mlmd_metadata']}
    return {'name': recorded['resource'], 'uri': recorded['uri'],
            'metadata': recorded['metadata'], 'type': recorded['type']}

  def _task(self, spec, name, task, runs, values, run_root, run_id, platform) -> TaskRun:
    component = spec['components'][task['componentRef']['name']]
    executor = conformance.executor_of(spec, task)
    if 'container' not in executor:
      raise TaskFailed(f'task {name}: only container executors can run here: '
                       f'{sorted(executor)}')
    container = executor['container']
    # Argo runs a task only when every task it depends on succeeded (the compiler's
    # enhanced depends, argocompiler/dag.go depends()): below a skipped task, it is skipped.
    if any(runs[upstream].state == 'skipped' for upstream in task.get('dependentTasks', [])):
      return TaskRun('skipped', {})
    inputs = task.get('inputs', {})
    parameter_values = {key: self._parameter(value, values, run_id, name)
                        for key, value in inputs.get('parameters', {}).items()}
    artifacts = {}
    for key, wiring in inputs.get('artifacts', {}).items():
      producer = wiring['taskOutputArtifact']['producerTask']
      produced = runs[producer].outputs.get(wiring['taskOutputArtifact']['outputArtifactKey'])
      if produced is None:
        raise TaskFailed(f'task {name}: input {key} comes from {producer}, which produced '
                         f'nothing ({runs[producer].state})')
      artifacts[key] = {'artifacts': [self._input_artifact(produced)]}
    executor_input = {'inputs': {'parameterValues': parameter_values, 'artifacts': artifacts}}

    condition = task.get('triggerPolicy', {}).get('condition')
    if condition and not self._condition(name, condition, executor_input):
      return TaskRun('skipped', {})

    self._ids += 1
    execution = self._ids
    pod = os.path.join(self.work_dir, 'pods', f'{run_id}-{name}')
    task_root = f'{run_root}/{name}/{execution}'
    outputs = {}
    for key, definition in component.get('outputDefinitions', {}).get('artifacts', {}).items():
      outputs[key] = {'artifacts': [{'name': key, 'uri': f'{task_root}/{key}',
                                     'type': definition['artifactType'],
                                     'metadata': definition.get('metadata', {})}]}
    if self.flavour == 'kfp':
      for key in entrypoint.LAUNCHER_OUTPUTS:
        outputs[key] = {'artifacts': [{'name': key, 'uri': f'{task_root}/{key}',
                                       'type': {'schemaTitle': 'system.Artifact'}}]}
      output_file = (os.path.join(storage.local_copy(task_root, pod), 'output_metadata.json')
                     if _version(self.version) >= (2, 15)
                     else os.path.join(pod, 'tmp', 'kfp_outputs', 'output_metadata.json'))
    else:
      output_file = f'{task_root}/executor_output.json'
    executor_input['outputs'] = {'artifacts': outputs, 'outputFile': output_file}

    image = self.images.get(container['image'])
    if image is None:
      raise TaskFailed(f'task {name}: image {container["image"]} cannot be pulled '
                       f'(ErrImagePull: the registry holds {sorted(self.images)})')
    env = self._env(container, platform.get(component['executorLabel'], {}), pod, name,
                    image)
    log = []
    if self.flavour == 'vertex' and 'preCacheCheck' in container.get('lifecycle', {}):
      check = container['lifecycle']['preCacheCheck']
      log.append(self._launch(name, check['command'], check['args'], executor_input, pod,
                              env, image))
      parameter_values.update(self._executor_output(name, output_file).get(
          'parameterValues', {}))
    key = self._fingerprint(container, executor_input)
    if task.get('cachingOptions', {}).get('enableCache') and key in self._cache:
      return TaskRun('cached', self._cache[key])

    if self.flavour == 'kfp':
      for artifact_list in executor_input['inputs']['artifacts'].values():
        artifact = artifact_list['artifacts'][0]
        self._download(artifact['uri'], storage.local_copy(artifact['uri'], pod))
    log.append(self._launch(name, container['command'], container['args'], executor_input,
                            pod, env, image))
    recorded = self._record(name, outputs, output_file, pod)
    if task.get('cachingOptions', {}).get('enableCache'):
      self._cache[key] = recorded
    return TaskRun('ran', recorded, '\n'.join(log))

  def _env(self, container, kubernetes, pod: str, name: str,
           image: image_replay.Image) -> Dict[str, str]:
    """The pod's environment: the image's, the container's env, the secrets' keys."""
    env = {'HOME': os.path.join(pod, 'root'), **image.environ()}
    env.update({e['name']: e['value'] for e in container.get('env', [])})
    for secret_env in kubernetes.get('secretAsEnv', []):
      secret = self.secrets.get(secret_env['secretName'])
      if secret is None:
        raise TaskFailed(f'task {name}: secret "{secret_env["secretName"]}" not found')
      for mapping in secret_env['keyToEnv']:
        env[mapping['envVar']] = secret[mapping['secretKey']]
    if self.flavour == 'kfp':
      env[storage.LOCAL_ROOT_ENV] = pod  # stands for the pod's /
      if storage.ENDPOINT_ENV in env:  # the cluster's store: the server on this machine
        host = parse.urlsplit(env[storage.ENDPOINT_ENV]).netloc
        if host != store_service(self.version):
          raise TaskFailed(f'task {name}: {env[storage.ENDPOINT_ENV]}: no such host in the '
                           f'cluster (KFP {self.version} serves its object store at '
                           f'{store_service(self.version)})')
        env[storage.ENDPOINT_ENV] = self.s3_env[storage.ENDPOINT_ENV]
    else:  # Vertex AI: the service account's access
      env.update(self.s3_env)
    return env

  def _condition(self, name: str, condition: str, executor_input) -> bool:
    """CEL against the task's inputs, as the driver evaluates a trigger policy."""
    environment = celpy.Environment()
    try:
      program = environment.program(environment.compile(condition))
      result = program.evaluate(celpy.json_to_cel({'inputs': {
          'parameter_values': executor_input['inputs']['parameterValues'],
          'artifacts': executor_input['inputs']['artifacts']}}))
    except Exception as e:  # pylint: disable=broad-except
      raise TaskFailed(f'task {name}: its trigger condition {condition!r} fails: {e!r}') \
          from None
    if isinstance(result, celpy.celtypes.BoolType):
      return bool(result)
    raise TaskFailed(f'task {name}: its trigger condition {condition!r} gave {result!r}')

  def _fingerprint(self, container, executor_input) -> str:
    key = {'image': container['image'], 'command': container['command'],
           'args': container['args'],
           'parameters': executor_input['inputs']['parameterValues'],
           'artifacts': {k: [(a['name'], a['uri']) for a in v['artifacts']]
                         for k, v in executor_input['inputs']['artifacts'].items()},
           'outputs': {k: v['artifacts'][0]['type']
                       for k, v in executor_input['outputs']['artifacts'].items()}}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

  def _launch(self, name: str, command: List[str], args: List[str],
              executor_input: Dict[str, Any], pod: str, env: Dict[str, str],
              image: image_replay.Image) -> str:
    """Runs one container command as the launcher does, in the pod, from the image's
    working directory; returns its output."""
    argv = list(command) + [json.dumps(executor_input) if arg == '{{$}}' else arg
                            for arg in args]
    workdir = os.path.join(pod, image.workdir.lstrip('/'))
    shutil.copytree(image.path(image.workdir), workdir, dirs_exist_ok=True)
    os.makedirs(env['HOME'], exist_ok=True)
    if self.flavour == 'kfp':  # launcher_v2.prepareOutputFolders
      for artifact_list in executor_input['outputs']['artifacts'].values():
        local = storage.local_copy(artifact_list['artifacts'][0]['uri'], pod)
        os.makedirs(os.path.dirname(local), exist_ok=True)
      os.makedirs(os.path.dirname(executor_input['outputs']['outputFile']), exist_ok=True)
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=workdir,
                            check=False)
    output = result.stdout + result.stderr
    if result.returncode != 0:
      raise TaskFailed(f'task {name}: {" ".join(command)} exited {result.returncode}:\n'
                       f'{output[-4000:]}')
    return output

  def _executor_output(self, name: str, output_file: str) -> Dict[str, Any]:
    """The step's executor output, parsed as protojson does: strictly. {} when none."""
    try:
      if not storage.of(output_file).local:
        text = self.read(output_file).decode()
      elif os.path.exists(output_file):
        with open(output_file) as f:
          text = f.read()
      else:
        return {}
    except self.s3.exceptions.NoSuchKey:
      return {}
    try:
      return json_format.MessageToDict(json_format.Parse(
          text, pipeline_spec_pb2.ExecutorOutput()))
    except json_format.ParseError as e:
      raise TaskFailed(f'task {name}: failed to unmarshall ExecutorOutput: {e}') from None

  def _record(self, name, outputs, output_file: str, pod: str) -> Dict[str, Dict[str, Any]]:
    """Merges the step's reported outputs into the provisioned ones, uploads them
    (open-source launcher) and records them in ML Metadata."""
    reported = self._executor_output(name, output_file).get('artifacts', {})
    recorded = {}
    for key, artifact_list in outputs.items():
      artifact = dict(artifact_list['artifacts'][0])
      if key in reported:
        step = reported[key]['artifacts'][0]
        artifact['uri'] = step.get('uri') or artifact['uri']
        artifact['metadata'] = {**artifact.get('metadata', {}), **step.get('metadata', {})}
      if self.flavour == 'kfp':
        self._upload(storage.local_copy(artifact['uri'], pod), artifact['uri'])
      if key in entrypoint.LAUNCHER_OUTPUTS:
        continue
      self._ids += 1
      artifact['id'] = str(self._ids)
      artifact['resource'] = (f'projects/p/locations/l/metadataStores/default/artifacts/'
                              f'{self._ids}')
      artifact['mlmd_metadata'] = {
          **{k: _mlmd_value(k, v) for k, v in artifact.get('metadata', {}).items()},
          'display_name': key, 'store_session_info': '{"Provider":"minio"}'}
      recorded[key] = artifact
    return recorded
