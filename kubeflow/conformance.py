"""What a Kubeflow backend refuses in a pipeline spec, checked before anything is submitted.

The open-source KFP 2.x backend compiles a spec into an Argo workflow and refuses, before
anything runs (kubeflow/pipelines, backend/src/v2/compiler/argocompiler/dag.go):
resolver executors (TFX compiles its Resolver nodes into them), custom-job executors
(Google Cloud only), artifact iterators, and trigger conditions on importer tasks. It does
not run a container's `lifecycle.preCacheCheck` (TFX's ExampleGen driver, which
fingerprints the input files), so a task that has one must not be cached there: its cache
key would not change with the data. Vertex AI runs all of these. On both, a trigger
condition can only read the inputs its task has: the driver evaluates it against them.

The steps compiled for open-source KFP read and write the launcher's local copies of their
artifacts (see entrypoint.py), which a Beam runner outside the pod cannot see: only the
DirectRunner runs their Beam steps there.
"""
import re
from typing import Any, Dict, List

from petseg.core import errors

TARGETS = ('kfp', 'vertex')
# Each target's name in a compiled spec's description (runner.describe), which tells
# `petseg submit` which backend a package is for.
BACKEND_NAMES = {'kfp': 'open-source Kubeflow Pipelines', 'vertex': 'Vertex AI Pipelines'}
# The oldest and newest open-source backends the spec is made and tested for
# (tests/kfp_harness.py emulates both): 2.5 is the first that replaces
# {{$.pipeline_job_uuid}}, on which the run id of the tasks that run every time and the
# release record's run rely.
SUPPORTED_BACKENDS = ('2.5.0', '2.17.0')
_CONDITION_INPUT = re.compile(r"inputs\.artifacts\['([^']+)'\]")
_RUNNER = re.compile(r'--runner=(\S+)')
# A GPU's name: a Kubernetes extended resource (vendor/name) on open-source KFP, an
# accelerator type on Vertex AI.
_GPU_TYPE = {'kfp': re.compile(r'[\w.-]+/[\w.-]+'), 'vertex': re.compile(r'[A-Z][A-Z0-9_]+')}


def resource_problems(resources: Dict[str, Any], target: str) -> List[str]:
  """What is wrong with a container's `resources` on `target`: a step must say what it
  needs, or the cluster gives it the namespace's default (and no GPU)."""
  found = []
  for limit in ('cpuLimit', 'memoryLimit'):
    if not resources.get(limit, 0) > 0:
      found.append(f'no {limit}')
  for request, limit in (('cpuRequest', 'cpuLimit'), ('memoryRequest', 'memoryLimit')):
    if request in resources and not 0 < resources[request] <= resources.get(limit, 0):
      found.append(f'{request} {resources[request]} is not within its limit')
  accelerator = resources.get('accelerator')
  if accelerator is not None:
    if not int(accelerator.get('count') or 0) > 0:
      found.append('an accelerator without a count')
    if not _GPU_TYPE[target].fullmatch(accelerator.get('type', '')):
      found.append(f'accelerator type {accelerator.get("type")!r} is not one {target} reads')
  return found


def condition_inputs(condition: str) -> List[str]:
  """The input artifact keys a trigger condition (CEL) reads."""
  return _CONDITION_INPUT.findall(condition)


def executor_of(spec: Dict[str, Any], task: Dict[str, Any]) -> Dict[str, Any]:
  """The deployment executor that runs a task of the spec ({} when it has none)."""
  label = spec['components'][task['componentRef']['name']].get('executorLabel')
  return spec['deploymentSpec']['executors'].get(label, {})


def problems(spec: Dict[str, Any], target: str) -> List[str]:
  """One line per task that `target` would refuse or run wrongly, naming the task."""
  if target not in TARGETS:
    raise errors.ConfigError(f'unknown target {target!r}; targets: {list(TARGETS)}')
  found = []
  for name, task in sorted(spec['root']['dag']['tasks'].items()):
    executor = executor_of(spec, task)
    container = executor.get('container', {})
    condition = task.get('triggerPolicy', {}).get('condition', '')
    missing = sorted(set(condition_inputs(condition))
                     - set(task.get('inputs', {}).get('artifacts', {})))
    if missing:
      found.append(f'task {name}: its trigger condition reads inputs it does not have: '
                   f'{missing}')
    if 'container' in executor:
      found += [f'task {name}: resources: {problem}'
                for problem in resource_problems(container.get('resources', {}), target)]
    if target == 'vertex':
      continue
    if 'resolver' in executor:
      found.append(f'task {name}: resolver executors are not implemented by the '
                   'open-source KFP backend (only Vertex AI runs them)')
    if 'customJob' in executor:
      found.append(f'task {name}: custom-job executors run on Google Cloud only')
    if 'importer' in executor and condition:
      found.append(f'task {name}: the open-source KFP backend refuses a trigger '
                   'condition on an importer task')
    if 'artifactIterator' in task:
      found.append(f'task {name}: artifact iterators are not implemented by the '
                   'open-source KFP backend')
    runners = {m for arg in container.get('args', [])
               for m in _RUNNER.findall(arg)} - {'DirectRunner'}
    if runners:
      found.append(f'task {name}: Beam runner {sorted(runners)[0]} cannot read the pod\'s '
                   'local copies of the artifacts that steps use on open-source KFP; run '
                   'the Beam steps there with the DirectRunner, or compile with --target '
                   'vertex')
    if ('preCacheCheck' in container.get('lifecycle', {})
        and task.get('cachingOptions', {}).get('enableCache')):
      found.append(f'task {name}: cached, but the open-source KFP backend does not run its '
                   'pre-cache check, so its cache key misses what that check computes')
  return found


def check(spec: Dict[str, Any], target: str) -> None:
  """Raises ConfigError listing every problem of the spec on `target`."""
  found = problems(spec, target)
  if found:
    raise errors.ConfigError(f'the pipeline cannot run on {target}: ' + '; '.join(found))
