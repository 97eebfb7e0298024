"""Executes a compiled pipeline spec task by task, the way a Kubeflow backend does. A test
harness, not a product runner: it stands in for the cluster that these machines lack.

Each task runs its own container `command`/`args` from the spec in a fresh process, with
the `executor_input` built as the backend's driver builds it, in one of two flavours:

- 'kfp', open-source KFP 2.x (kubeflow/pipelines backend/src/v2: driver, launcher):
  input artifacts rebuilt from ML Metadata with a name (the MLMD id), a URI and metadata,
  and no type; outputs at PIPELINE_ROOT/RUN/TASK/ID/KEY with the component's declared type,
  plus the launcher's own `executor-logs` output (publishing logs is its default); the
  executor output file in the pod; placeholders such as {{$.pipeline_job_uuid}} replaced in
  constant inputs; no pre-cache check; object storage (minio://) reached through local
  copies: inputs downloaded to /minio/BUCKET/KEY (/gcs/..., /s3/...) before the step,
  outputs uploaded from there after it, file by file (the pod's / is a temporary
  directory, given to the step as PETSEG_KFP_LOCAL_ROOT).
- 'vertex', Vertex AI Pipelines: typed input artifacts named by resource name; the
  container's pre-cache check run first, its parameters merged into the inputs (and the
  cache key); the executor output file under the task's root; storage read directly.

Both: tasks in dependency order; trigger conditions evaluated with a real CEL
implementation (cel-python) against the task's inputs; a task skipped by its condition
produces nothing; a cached task (cachingOptions.enableCache and the same fingerprint of
image, command, arguments and inputs as an earlier execution) reuses that execution's
outputs; the launcher records an output under the URI the step reports.
"""
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional

import celpy

from petseg.kubeflow import conformance
from petseg.kubeflow import entrypoint

FLAVOURS = ('kfp', 'vertex')
_PLACEHOLDERS = ('{{$.pipeline_job_uuid}}', '{{$.pipeline_job_name}}',
                 '{{$.pipeline_task_name}}')


class TaskFailed(AssertionError):
  pass


@dataclasses.dataclass
class TaskRun:
  state: str  # 'ran', 'cached' or 'skipped'
  outputs: Dict[str, Dict[str, Any]]  # output key -> recorded artifact
  log: str = ''


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


def _copy(source: str, destination: str) -> None:
  if os.path.isdir(source):
    shutil.copytree(source, destination, dirs_exist_ok=True)
  elif os.path.exists(source):
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    shutil.copy2(source, destination)


class Backend:
  """One Kubeflow backend: its ML Metadata (artifact ids), its cache, its object store."""

  def __init__(self, flavour: str, work_dir: str):
    assert flavour in FLAVOURS, flavour
    self.flavour = flavour
    self.work_dir = work_dir
    self.store = os.path.join(work_dir, 'object-store')  # minio://, gs://, s3:// live here
    self._cache: Dict[str, Dict[str, Dict[str, Any]]] = {}
    self._ids = 0
    self._runs = 0

  # Storage -------------------------------------------------------------------------------

  def stored(self, uri: str) -> str:
    """Where the object store keeps `uri` (a local path is its own)."""
    for scheme, mount in entrypoint.LOCAL_MOUNTS.items():
      if uri.startswith(scheme):
        return os.path.join(self.store, mount, uri[len(scheme):])
    return uri

  # Running -------------------------------------------------------------------------------

  def run(self, spec: Dict[str, Any], pipeline_root: str,
          parameters: Optional[Dict[str, Any]] = None) -> Dict[str, TaskRun]:
    """Runs the whole DAG once; returns each task's run. Raises TaskFailed naming the
    task whose step, condition or wiring fails."""
    self._runs += 1
    run_id = f'run-{self._runs}-0000-{self.flavour}'
    values = {name: definition.get('defaultValue')
              for name, definition in spec['root'].get('inputDefinitions', {})
              .get('parameters', {}).items()}
    values.update(parameters or {})
    runs: Dict[str, TaskRun] = {}
    tasks = spec['root']['dag']['tasks']
    for name in _topological(tasks):
      runs[name] = self._task(spec, name, tasks[name], runs, values, pipeline_root, run_id)
    return runs

  def _parameter(self, spec_value: Dict[str, Any], values, run_id, task_name):
    if 'componentInputParameter' in spec_value:
      return values[spec_value['componentInputParameter']]
    if 'runtimeValue' in spec_value:
      constant = spec_value['runtimeValue']['constant']
      substitutes = {'{{$.pipeline_job_uuid}}': run_id, '{{$.pipeline_job_name}}': run_id,
                     '{{$.pipeline_task_name}}': task_name}
      return substitutes.get(constant, constant) if isinstance(constant, str) else constant
    raise TaskFailed(f'task {task_name}: parameter source not supported by the harness: '
                     f'{spec_value}')

  def _input_artifact(self, recorded: Dict[str, Any]) -> Dict[str, Any]:
    if self.flavour == 'kfp':  # rebuilt from ML Metadata: no type
      return {'name': recorded['id'], 'uri': recorded['uri'],
              'metadata': recorded['metadata']}
    return {'name': recorded['resource'], 'uri': recorded['uri'],
            'metadata': recorded['metadata'], 'type': recorded['type']}

  def _task(self, spec, name, task, runs, values, pipeline_root, run_id) -> TaskRun:
    component = spec['components'][task['componentRef']['name']]
    executor = conformance.executor_of(spec, task)
    if 'container' not in executor:
      raise TaskFailed(f'task {name}: only container executors can run here: '
                       f'{sorted(executor)}')
    container = executor['container']
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
    task_root = f'{pipeline_root}/{run_id}/{name}/{execution}'
    outputs = {}
    for key, definition in component.get('outputDefinitions', {}).get('artifacts', {}).items():
      outputs[key] = {'artifacts': [{'name': key, 'uri': f'{task_root}/{key}',
                                     'type': definition['artifactType'],
                                     'metadata': definition.get('metadata', {})}]}
    if self.flavour == 'kfp':
      for key in entrypoint.LAUNCHER_OUTPUTS:
        outputs[key] = {'artifacts': [{'name': key, 'uri': f'{task_root}/{key}',
                                       'type': {'schemaTitle': 'system.Artifact'}}]}
      output_file = os.path.join(pod, 'tmp', 'kfp_outputs', 'output_metadata.json')
    else:
      output_file = f'{self.stored(task_root)}/executor_output.json'
    executor_input['outputs'] = {'artifacts': outputs, 'outputFile': output_file}

    log = []
    if self.flavour == 'vertex' and 'preCacheCheck' in container.get('lifecycle', {}):
      check = container['lifecycle']['preCacheCheck']
      log.append(self._launch(name, check['command'], check['args'], executor_input, pod))
      with open(output_file) as f:
        driver_output = json.load(f)
      parameter_values.update(driver_output.get('parameterValues', {}))
    key = self._fingerprint(container, executor_input)
    if task.get('cachingOptions', {}).get('enableCache') and key in self._cache:
      return TaskRun('cached', self._cache[key])

    if self.flavour == 'kfp':
      self._download(executor_input['inputs']['artifacts'], pod)
    log.append(self._launch(name, container['command'], container['args'], executor_input,
                            pod))
    recorded = self._record(outputs, output_file, pod)
    self._cache[key] = recorded
    return TaskRun('ran', recorded, '\n'.join(log))

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
                         for k, v in executor_input['inputs']['artifacts'].items()}}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

  def _download(self, artifacts, pod: str) -> None:
    for artifact_list in artifacts.values():
      for artifact in artifact_list['artifacts']:
        local = entrypoint.local_path(artifact['uri'], pod)
        if local:
          _copy(self.stored(artifact['uri']), local)

  def _launch(self, name: str, command: List[str], args: List[str],
              executor_input: Dict[str, Any], pod: str) -> str:
    """Runs one container command as the launcher does; returns its output."""
    argv = [sys.executable if word == 'python' else word for word in command]
    argv += [json.dumps(executor_input) if arg == '{{$}}' else arg for arg in args]
    os.makedirs(pod, exist_ok=True)
    for artifact_list in executor_input['outputs']['artifacts'].values():
      local = entrypoint.local_path(artifact_list['artifacts'][0]['uri'], pod)
      if local:  # the launcher makes each output's parent directory
        os.makedirs(os.path.dirname(local), exist_ok=True)
    os.makedirs(os.path.dirname(executor_input['outputs']['outputFile']), exist_ok=True)
    env = dict(os.environ)
    if self.flavour == 'kfp':
      env[entrypoint.LOCAL_ROOT_ENV] = pod
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    output = result.stdout + result.stderr
    if result.returncode != 0:
      raise TaskFailed(f'task {name}: {" ".join(command)} exited {result.returncode}:\n'
                       f'{output[-4000:]}')
    return output

  def _record(self, outputs, output_file: str, pod: str) -> Dict[str, Dict[str, Any]]:
    """Merges the step's reported outputs into the provisioned ones, uploads them
    (open-source launcher) and records them in ML Metadata."""
    reported = {}
    if os.path.exists(output_file):
      with open(output_file) as f:
        reported = json.load(f).get('artifacts', {})
    recorded = {}
    for key, artifact_list in outputs.items():
      artifact = dict(artifact_list['artifacts'][0])
      if key in entrypoint.LAUNCHER_OUTPUTS:
        continue
      if key in reported:
        step = reported[key]['artifacts'][0]
        artifact['uri'] = step.get('uri') or artifact['uri']
        artifact['metadata'] = {**artifact.get('metadata', {}), **step.get('metadata', {})}
      if self.flavour == 'kfp':
        local = entrypoint.local_path(artifact['uri'], pod)
        if local:
          _copy(local, self.stored(artifact['uri']))
      self._ids += 1
      artifact['id'] = str(self._ids)
      artifact['resource'] = (f'projects/p/locations/l/metadataStores/default/artifacts/'
                              f'{self._ids}')
      recorded[key] = artifact
    return recorded
