"""Starts a run of a compiled pipeline, or schedules runs of it: on open-source Kubeflow
Pipelines through its v2beta1 REST API (the kfp SDK's generated client, kfp_server_api),
on Vertex AI through google-cloud-aiplatform.

Every request is built here as the API's own object before anything is sent
(`kfp_run`, `kfp_recurring_run`, `vertex_job`, `vertex_schedule`), so that --dry-run prints
exactly the JSON the API would receive. On open-source KFP the package is uploaded as a
version of the pipeline (named by the package's digest, so the same package is uploaded
once) and the run or recurring run refers to it, so that the UI shows which spec ran.

A recurring run is at most one run at a time and never catches up on runs it missed (a
night's retrain that overlaps the next one, or a cluster that was down, must not start a
pile of runs): max concurrency 1 and no catch-up on both backends. Open-source KFP reads a
cron expression with a seconds field first (robfig/cron v1, backend/src/crd/controller/
scheduledworkflow): the standard five fields given here get a leading 0 there, where
"0 3 * * *" would otherwise mean minute 3 of every hour.
"""
import dataclasses
import datetime
import hashlib
import json
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from google.protobuf import json_format
import kfp_server_api
import urllib3
import yaml

from petseg.core import errors
from petseg.kubeflow import conformance

_CRON_FIELD = re.compile(r'[0-9A-Za-z*/,?-]+')
# A run parameter as the spec types it, from the text given on the command line.
_PARSE = {'STRING': str, 'NUMBER_INTEGER': int, 'NUMBER_DOUBLE': float,
          'BOOLEAN': lambda text: {'true': True, 'false': False}[text.lower()]}


@dataclasses.dataclass(frozen=True)
class Package:
  """A compiled pipeline (`petseg compile`'s .yaml or .json): its path, its PipelineSpec
  and the digest of the file."""
  path: str
  spec: Dict[str, Any]
  digest: str

  @classmethod
  def load(cls, path: str) -> 'Package':
    try:
      with open(path, 'rb') as f:
        content = f.read()
      if path.endswith('.json'):
        spec = json.loads(content)['pipelineSpec']
      else:
        spec = next(yaml.safe_load_all(content))
      spec['pipelineInfo']['name']  # pylint: disable=pointless-statement
    except (OSError, ValueError, KeyError, TypeError, StopIteration, yaml.YAMLError) as e:
      raise errors.ConfigError(f'--package {path}: not a compiled pipeline '
                               f'({type(e).__name__}: {e})') from None
    return cls(path, spec, hashlib.sha256(content).hexdigest())

  @property
  def name(self) -> str:
    return self.spec['pipelineInfo']['name']

  @property
  def target(self) -> str:
    """The backend it was compiled for (conformance.TARGETS), as its description says."""
    description = self.spec['pipelineInfo'].get('description', '')
    return 'vertex' if conformance.BACKEND_NAMES['vertex'] in description else 'kfp'

  @property
  def version_name(self) -> str:
    """The name of the pipeline version this package is uploaded as."""
    return f'{self.name}-{self.digest[:12]}'

  def parameters(self, given: Mapping[str, str]) -> Dict[str, Any]:
    """Every run parameter: the spec's defaults, with those `given` as NAME -> text, typed
    as the spec declares them; ConfigError naming an unknown parameter or a value of the
    wrong type."""
    declared = self.spec['root'].get('inputDefinitions', {}).get('parameters', {})
    typed = {name: d['defaultValue'] for name, d in declared.items() if 'defaultValue' in d}
    for name, text in given.items():
      if name not in declared:
        raise errors.ConfigError(f'--param {name}: not a parameter of {self.path}; its '
                                 f'parameters: {sorted(declared)}')
      kind = declared[name]['parameterType']
      try:
        typed[name] = _PARSE[kind](text)
      except (KeyError, ValueError):
        raise errors.ConfigError(f'--param {name}={text}: not a {kind}') from None
    return typed


@dataclasses.dataclass(frozen=True)
class Submission:
  """What to start: the package, with these run parameters (the others keep the spec's
  defaults) and pipeline root, named `display_name`, in `experiment`."""
  package: Package
  parameters: Dict[str, Any]
  pipeline_root: str
  experiment: str
  display_name: str


def default_run_name(pipeline: str) -> str:
  return f'{pipeline}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}'


def checked_cron(expression: str) -> str:
  """A standard five-field cron expression (minute hour day month weekday), in UTC."""
  fields = expression.split()
  if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
    raise errors.ConfigError(f'--cron {expression!r}: expected five fields, minute hour '
                             'day-of-month month day-of-week, e.g. "0 3 * * *" (03:00 UTC)')
  return ' '.join(fields)


# Open-source Kubeflow Pipelines ------------------------------------------------------------

def api_json(model: Any) -> Any:
  """A kfp_server_api object as the JSON the API receives."""
  return kfp_server_api.ApiClient().sanitize_for_serialization(model)


def _runtime_config(submission: Submission) -> kfp_server_api.V2beta1RuntimeConfig:
  return kfp_server_api.V2beta1RuntimeConfig(pipeline_root=submission.pipeline_root,
                                             parameters=submission.parameters)


def kfp_run(submission: Submission, experiment_id: str,
            version: kfp_server_api.V2beta1PipelineVersionReference) -> kfp_server_api.V2beta1Run:
  return kfp_server_api.V2beta1Run(
      display_name=submission.display_name, experiment_id=experiment_id,
      pipeline_version_reference=version, runtime_config=_runtime_config(submission))


def kfp_recurring_run(submission: Submission, cron: str, experiment_id: str,
                      version: kfp_server_api.V2beta1PipelineVersionReference
                      ) -> kfp_server_api.V2beta1RecurringRun:
  """Every day `cron` says (five fields, UTC), at most one run at a time, no catch-up."""
  return kfp_server_api.V2beta1RecurringRun(
      display_name=submission.display_name, experiment_id=experiment_id,
      pipeline_version_reference=version, runtime_config=_runtime_config(submission),
      trigger=kfp_server_api.V2beta1Trigger(cron_schedule=kfp_server_api.V2beta1CronSchedule(
          cron=f'0 {checked_cron(cron)}')),
      max_concurrency='1', no_catchup=True, mode=kfp_server_api.RecurringRunMode.ENABLE)


def placeholder_version(package: Package) -> kfp_server_api.V2beta1PipelineVersionReference:
  """What a dry run shows for the version not yet uploaded."""
  return kfp_server_api.V2beta1PipelineVersionReference(
      pipeline_id=f'<id of pipeline {package.name}>',
      pipeline_version_id=f'<id of version {package.version_name}>')


class KfpApi:
  """The calls petseg makes to a KFP API server at `host`, with a bearer `token` where
  the server asks for one; every failure is a ConfigError naming --host and the reason."""

  def __init__(self, host: str, token: Optional[str] = None, namespace: str = ''):
    if not re.match(r'https?://', host or ''):
      raise errors.ConfigError(f'--host {host!r}: expected the API\'s URL, http://HOST:PORT '
                               'or https://HOST/pipeline')
    self.host = host.rstrip('/')
    self.namespace = namespace
    config = kfp_server_api.Configuration(host=self.host)
    config.retries = urllib3.Retry(total=1, backoff_factor=0)
    client = kfp_server_api.ApiClient(config, header_name='Authorization' if token else None,
                                      header_value=f'Bearer {token}' if token else None)
    self._healthz = kfp_server_api.HealthzServiceApi(client)
    self._experiments = kfp_server_api.ExperimentServiceApi(client)
    self._pipelines = kfp_server_api.PipelineServiceApi(client)
    self._upload = kfp_server_api.PipelineUploadServiceApi(client)
    self._runs = kfp_server_api.RunServiceApi(client)
    self._recurring = kfp_server_api.RecurringRunServiceApi(client)
    self._call(self._healthz.get_healthz)  # a host that is not KFP fails here

  def _call(self, method: Callable[..., Any], *args, **kwargs) -> Any:
    try:
      return method(*args, **kwargs)
    except kfp_server_api.ApiException as e:
      raise errors.ConfigError(f'--host {self.host}: {self._reason(e)}') from None
    except urllib3.exceptions.HTTPError as e:
      reason = getattr(e, 'reason', None) or e
      raise errors.ConfigError(f'--host {self.host}: cannot be reached ({reason})') from None
    except ValueError as e:  # an answer that is not the API's JSON
      raise errors.ConfigError(f'--host {self.host}: not a Kubeflow Pipelines API (its '
                               f'answer does not parse: {e})') from None

  @staticmethod
  def _reason(error: 'kfp_server_api.ApiException') -> str:
    try:
      said = json.loads(error.body or '{}').get('message') or ''
    except ValueError:
      said = None  # not the API's JSON: an HTML page, another server
    if error.status in (401, 403):
      return (f'the credentials were refused (HTTP {error.status} {error.reason}'
              + (f': {said}' if said else '') + '); give --token, or one that may do this')
    if said is None or error.status == 404 and not said:
      return (f'not a Kubeflow Pipelines API (HTTP {error.status} {error.reason} for its '
              'v2beta1 API); give the API\'s URL, e.g. http://localhost:8888 when '
              'port-forwarding svc/ml-pipeline')
    return f'HTTP {error.status} {error.reason}' + (f': {said}' if said else '')

  def experiment_id(self, name: str) -> str:
    """The id of the experiment `name`, made if there is none."""
    found = self._call(self._experiments.list_experiments, namespace=self.namespace or None,
                       filter=_name_filter(name), page_size=1).experiments or []
    if found:
      return found[0].experiment_id
    return self._call(self._experiments.create_experiment, body=kfp_server_api.V2beta1Experiment(
        display_name=name, namespace=self.namespace or None)).experiment_id

  def pipeline_version(self, package: Package
                       ) -> kfp_server_api.V2beta1PipelineVersionReference:
    """The pipeline version holding `package`: uploaded (and the pipeline made) unless a
    version of that name, the package's digest, is there already."""
    try:
      pipeline = self._pipelines.get_pipeline_by_name(
          package.name, namespace=self.namespace or None)
    except kfp_server_api.ApiException as e:
      if e.status != 404 or self._reason(e).startswith('not a Kubeflow'):
        raise errors.ConfigError(f'--host {self.host}: {self._reason(e)}') from None
      pipeline = self._call(self._upload.upload_pipeline, package.path, name=package.name,
                            namespace=self.namespace or None)
    versions = self._call(self._pipelines.list_pipeline_versions, pipeline.pipeline_id,
                          filter=_name_filter(package.version_name),
                          page_size=1).pipeline_versions or []
    version = versions[0] if versions else self._call(
        self._upload.upload_pipeline_version, package.path, name=package.version_name,
        pipelineid=pipeline.pipeline_id)
    return kfp_server_api.V2beta1PipelineVersionReference(
        pipeline_id=pipeline.pipeline_id, pipeline_version_id=version.pipeline_version_id)

  def create_run(self, run: kfp_server_api.V2beta1Run) -> kfp_server_api.V2beta1Run:
    return self._call(self._runs.create_run, body=run)

  def create_recurring_run(self, run: kfp_server_api.V2beta1RecurringRun
                           ) -> kfp_server_api.V2beta1RecurringRun:
    return self._call(self._recurring.create_recurring_run, body=run)

  def recurring_runs(self) -> List[kfp_server_api.V2beta1RecurringRun]:
    runs, token = [], ''
    while True:
      page = self._call(self._recurring.list_recurring_runs, page_token=token,
                        page_size=100, namespace=self.namespace or None)
      runs += page.recurring_runs or []
      token = page.next_page_token
      if not token:
        return runs

  def recurring_run(self, name: str) -> kfp_server_api.V2beta1RecurringRun:
    found = [r for r in self.recurring_runs() if r.display_name == name]
    if not found:
      raise errors.ConfigError(f'no recurring run named {name!r} at {self.host}; '
                               'petseg schedule --list shows them')
    return found[0]

  def change(self, name: str, action: str) -> kfp_server_api.V2beta1RecurringRun:
    """pause, resume or delete the recurring run `name`."""
    run = self.recurring_run(name)
    method = {'pause': self._recurring.disable_recurring_run,
              'resume': self._recurring.enable_recurring_run,
              'delete': self._recurring.delete_recurring_run}[action]
    self._call(method, run.recurring_run_id)
    return run

  def run_url(self, run_id: str) -> str:
    return f'{self.host}/#/runs/details/{run_id}'

  def recurring_run_url(self, recurring_run_id: str) -> str:
    return f'{self.host}/#/recurringrun/details/{recurring_run_id}'


def _name_filter(name: str) -> str:
  """The API's filter on display name (a JSON-encoded v2beta1 Filter)."""
  return json.dumps({'predicates': [{'key': 'display_name', 'operation': 'EQUALS',
                                     'string_value': name}]})


# Vertex AI ---------------------------------------------------------------------------------

def _vertex_pipeline_job(submission: Submission, service_account: str):
  from google.cloud.aiplatform_v1.types import pipeline_job  # pylint: disable=g-import-not-at-top
  from google.protobuf import struct_pb2  # pylint: disable=g-import-not-at-top
  values = {name: json_format.ParseDict(value, struct_pb2.Value())
            for name, value in submission.parameters.items()}
  return pipeline_job.PipelineJob(
      display_name=submission.display_name,
      pipeline_spec=json_format.ParseDict(submission.package.spec, struct_pb2.Struct()),
      runtime_config=pipeline_job.PipelineJob.RuntimeConfig(
          gcs_output_directory=submission.pipeline_root, parameter_values=values),
      service_account=service_account)


def vertex_job(submission: Submission, project: str, location: str,
               service_account: str = '') -> Dict[str, Any]:
  """The CreatePipelineJob request Vertex AI receives, as its JSON."""
  return {'parent': f'projects/{project}/locations/{location}',
          'pipelineJob': _message_json(_vertex_pipeline_job(submission, service_account))}


def vertex_schedule(submission: Submission, cron: str, project: str, location: str,
                    service_account: str = '') -> Dict[str, Any]:
  """The CreateSchedule request: at most one run at a time, no catch-up, in UTC."""
  from google.cloud.aiplatform_v1.types import schedule  # pylint: disable=g-import-not-at-top
  from google.cloud.aiplatform_v1.types import pipeline_service  # pylint: disable=g-import-not-at-top
  parent = f'projects/{project}/locations/{location}'
  message = schedule.Schedule(
      display_name=submission.display_name, cron=f'TZ=UTC {checked_cron(cron)}',
      max_concurrent_run_count=1, catch_up=False,
      create_pipeline_job_request=pipeline_service.CreatePipelineJobRequest(
          parent=parent, pipeline_job=_vertex_pipeline_job(submission, service_account)))
  # catch_up false is the proto's default, which its JSON leaves out: say it.
  return {'parent': parent, 'schedule': {**_message_json(message), 'catchUp': False}}


def _message_json(message) -> Dict[str, Any]:
  return json_format.MessageToDict(type(message).pb(message),
                                   including_default_value_fields=False)


def _aiplatform_job(submission: Submission, project: str, location: str):
  """The submission as google-cloud-aiplatform's PipelineJob."""
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  return aiplatform.PipelineJob(
      display_name=submission.display_name, template_path=submission.package.path,
      pipeline_root=submission.pipeline_root, parameter_values=submission.parameters,
      project=project, location=location)


def vertex_submit(submission: Submission, project: str, location: str,
                  service_account: str = '') -> Tuple[str, str]:
  """Starts the run on Vertex AI; (its resource name, its console URL)."""
  job = _aiplatform_job(submission, project, location)
  job.submit(service_account=service_account or None)
  job_id = job.resource_name.rsplit('/', 1)[-1]
  return job.resource_name, (f'https://console.cloud.google.com/vertex-ai/locations/'
                             f'{location}/pipelines/runs/{job_id}?project={project}')


def vertex_schedule_create(submission: Submission, cron: str, project: str, location: str,
                           service_account: str = '') -> str:
  """Makes the schedule on Vertex AI (as vertex_schedule's request); its resource name."""
  created = _aiplatform_job(submission, project, location).create_schedule(
      display_name=submission.display_name, cron=f'TZ=UTC {checked_cron(cron)}',
      max_concurrent_run_count=1, service_account=service_account or None)
  return created.resource_name


def vertex_schedules(project: str, location: str):
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  return aiplatform.PipelineJobSchedule.list(project=project, location=location)


def vertex_change(name: str, action: str, project: str, location: str) -> str:
  found = [s for s in vertex_schedules(project, location) if s.display_name == name]
  if not found:
    raise errors.ConfigError(f'no schedule named {name!r} in projects/{project}/locations/'
                             f'{location}; petseg schedule --list shows them')
  getattr(found[0], action)()
  return found[0].resource_name
