"""A local HTTP server that answers as the Kubeflow Pipelines v2beta1 REST API does, for the
calls `petseg submit` and `petseg schedule` make. A test stand-in for the API server these
machines lack, written from the backend's API definitions (kubeflow/pipelines backend/api/
v2beta1/*.proto: paths, field names, the grpc-gateway error body {code, message}) and its
checks (apiserver/server/api_converter.go: a recurring run's max concurrency 1 to 10, its
cron parsed by robfig/cron v1, six fields with seconds first).

It keeps pipelines, versions, experiments, runs and recurring runs in memory and records
every request (`requests`: method, path, query, JSON body or uploaded file) so that tests
assert on what the CLI sent. With `token`, a request without that bearer token is refused
(401), as the cluster's authentication in front of the API does.
"""
import contextlib
import dataclasses
import email.parser
import http.server
import itertools
import json
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib import parse

import yaml

PREFIX = '/apis/v2beta1'


@dataclasses.dataclass
class Request:
  method: str
  path: str
  query: Dict[str, str]
  body: Any  # the JSON body, or {field: bytes} for an upload


class KfpApi:
  """The API's state and its answers: (status, JSON) for a request."""

  def __init__(self, token: Optional[str] = None):
    self.token = token
    self.requests: List[Request] = []
    self.pipelines: Dict[str, Dict[str, Any]] = {}
    self.versions: Dict[str, Dict[str, Any]] = {}
    self.experiments: Dict[str, Dict[str, Any]] = {}
    self.runs: Dict[str, Dict[str, Any]] = {}
    self.recurring_runs: Dict[str, Dict[str, Any]] = {}
    self._ids = itertools.count(1)

  def _id(self, kind: str) -> str:
    return f'{kind}-{next(self._ids)}'

  @staticmethod
  def _error(status: int, code: int, message: str) -> Tuple[int, Dict[str, Any]]:
    return status, {'error': message, 'code': code, 'message': message, 'details': []}

  @staticmethod
  def _named(items, query) -> List[Dict[str, Any]]:
    """Items whose display_name the request's filter (a JSON Filter) asks for."""
    found = list(items)
    for predicate in json.loads(query.get('filter') or '{}').get('predicates', []):
      assert predicate['key'] == 'display_name' and predicate['operation'] == 'EQUALS', predicate
      found = [i for i in found if i['display_name'] == predicate['string_value']]
    return found

  def answer(self, request: Request, authorization: str) -> Tuple[int, Dict[str, Any]]:
    self.requests.append(request)
    if self.token and authorization != f'Bearer {self.token}':
      return self._error(401, 16, 'Unauthenticated: no valid bearer token')
    route = (request.method, request.path[len(PREFIX):] if request.path.startswith(PREFIX)
             else None)
    parts = (route[1] or '').strip('/').split('/')
    if route == ('GET', '/healthz'):
      return 200, {'commit_sha': 'test', 'tag_name': '2.17.0', 'multi_user': False}
    if route == ('GET', '/experiments'):
      found = self._named(self.experiments.values(), request.query)
      return 200, {'experiments': found[:int(request.query.get('page_size', 10))],
                   'total_size': len(found)}
    if route == ('POST', '/experiments'):
      experiment = {**request.body, 'experiment_id': self._id('experiment')}
      self.experiments[experiment['experiment_id']] = experiment
      return 200, experiment
    if request.method == 'GET' and parts[:2] == ['pipelines', 'names']:
      found = [p for p in self.pipelines.values() if p['display_name'] == parts[2]]
      if not found:
        return self._error(404, 5, f'Pipeline {parts[2]} not found')
      return 200, found[0]
    if route == ('POST', '/pipelines/upload'):
      return self._upload(request, pipeline_id=None)
    if route == ('POST', '/pipelines/upload_version'):
      if request.query.get('pipelineid') not in self.pipelines:
        return self._error(404, 5, 'Pipeline not found')
      return self._upload(request, pipeline_id=request.query['pipelineid'])
    if request.method == 'GET' and len(parts) == 3 and parts[0] == 'pipelines' \
        and parts[2] == 'versions':
      found = self._named([v for v in self.versions.values() if v['pipeline_id'] == parts[1]],
                          request.query)
      return 200, {'pipeline_versions': found[:int(request.query.get('page_size', 10))],
                   'total_size': len(found)}
    if route == ('POST', '/runs'):
      problem = self._references(request.body)
      if problem:
        return self._error(400, 3, problem)
      run = {**request.body, 'run_id': self._id('run'), 'state': 'PENDING'}
      self.runs[run['run_id']] = run
      return 200, run
    if route == ('POST', '/recurringruns'):
      problem = self._references(request.body) or self._schedule_problem(request.body)
      if problem:
        return self._error(400, 3, problem)
      run = {**request.body, 'recurring_run_id': self._id('recurring-run')}
      self.recurring_runs[run['recurring_run_id']] = run
      return 200, run
    if route == ('GET', '/recurringruns'):
      return 200, {'recurringRuns': list(self.recurring_runs.values()),  # the proto's name
                   'total_size': len(self.recurring_runs)}
    if len(parts) == 2 and parts[0] == 'recurringruns':
      run_id, _, verb = parts[1].partition(':')
      if run_id not in self.recurring_runs:
        return self._error(404, 5, f'RecurringRun {run_id} not found')
      if request.method == 'POST' and verb in ('enable', 'disable'):
        self.recurring_runs[run_id]['mode'] = verb.upper()
        return 200, {}
      if request.method == 'DELETE' and not verb:
        del self.recurring_runs[run_id]
        return 200, {}
    return self._error(404, 5, f'Not Found: {request.method} {request.path}')

  def _upload(self, request: Request, pipeline_id: Optional[str]):
    content = request.body.get('uploadfile', b'')
    try:
      spec = next(yaml.safe_load_all(content))
      spec['pipelineInfo']['name']  # pylint: disable=pointless-statement
    except Exception:  # pylint: disable=broad-except
      return self._error(400, 3, 'Failed to upload: the file is not a pipeline spec')
    name = request.query.get('name') or spec['pipelineInfo']['name']
    version_id = self._id('version')
    if pipeline_id is not None:  # a new version of a pipeline
      self.versions[version_id] = {'pipeline_id': pipeline_id, 'display_name': name,
                                   'pipeline_version_id': version_id, 'pipeline_spec': spec}
      return 200, self.versions[version_id]
    # A new pipeline, with a first version of the same name.
    pipeline_id = self._id('pipeline')
    self.pipelines[pipeline_id] = {'pipeline_id': pipeline_id, 'display_name': name,
                                   'namespace': request.query.get('namespace', '')}
    self.versions[version_id] = {'pipeline_id': pipeline_id, 'display_name': name,
                                 'pipeline_version_id': version_id, 'pipeline_spec': spec}
    return 200, self.pipelines[pipeline_id]

  def _references(self, body: Dict[str, Any]) -> Optional[str]:
    reference = body.get('pipeline_version_reference') or {}
    if reference.get('pipeline_version_id') not in self.versions:
      return 'the pipeline version reference names no version'
    if body.get('experiment_id') not in self.experiments:
      return 'the experiment id names no experiment'
    return None

  @staticmethod
  def _schedule_problem(body: Dict[str, Any]) -> Optional[str]:
    if not 1 <= int(body.get('max_concurrency') or 0) <= 10:
      return 'max concurrency of the recurring run should be between 1 and 10'
    cron = ((body.get('trigger') or {}).get('cron_schedule') or {}).get('cron', '')
    if len(cron.split()) != 6:
      return f'invalid cron {cron!r}: robfig/cron v1 reads six fields, seconds first'
    return None


class _Handler(http.server.BaseHTTPRequestHandler):
  api: KfpApi

  def _serve(self) -> None:
    url = parse.urlsplit(self.path)
    query = dict(parse.parse_qsl(url.query))
    length = int(self.headers.get('Content-Length') or 0)
    raw = self.rfile.read(length) if length else b''
    content_type = self.headers.get('Content-Type', '')
    if content_type.startswith('multipart/form-data'):
      message = email.parser.BytesParser().parsebytes(
          f'Content-Type: {content_type}\r\n\r\n'.encode() + raw)
      body: Any = {part.get_param('name', header='content-disposition'):
                   part.get_payload(decode=True) for part in message.get_payload()}
    else:
      body = json.loads(raw) if raw else None
    status, answer = self.api.answer(Request(self.command, url.path, query, body),
                                     self.headers.get('Authorization', ''))
    data = json.dumps(answer).encode()
    self.send_response(status)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  do_GET = do_POST = do_DELETE = _serve

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    del format, args


@contextlib.contextmanager
def serve(token: Optional[str] = None) -> Iterator[Tuple[str, KfpApi]]:
  """Runs the API on a free port of 127.0.0.1 while in the block: (its URL, its state)."""
  api = KfpApi(token)
  handler = type('Handler', (_Handler,), {'api': api})
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f'http://127.0.0.1:{server.server_address[1]}', api
  finally:
    server.shutdown()
    server.server_close()
