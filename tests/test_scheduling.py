"""`petseg submit` and `petseg schedule` as typed: the requests they print with --dry-run,
and the exchange with a local server that answers as the Kubeflow Pipelines v2beta1 API
(tests/kfp_api_server.py), errors included."""
import http.server
import json
import socket
import threading

import pytest

from petseg import cli
from tests import kfp_api_server

NAMESPACE = 'team-a'
ROOT = f'minio://mlpipeline/private-artifacts/{NAMESPACE}/v2/artifacts'


@pytest.fixture(scope='module')
def package(tmp_path_factory):
  """A package compiled for open-source KFP 2.17 in profile namespace team-a."""
  path = tmp_path_factory.mktemp('package') / 'pipeline.yaml'
  assert cli.main(['compile', '--engine', 'kubeflow', '--output', str(path), '--image',
                   'registry.example/petseg:1', '--dataset', 'oxford_pets', '--namespace',
                   NAMESPACE, '--epochs', '7']) == 0
  return str(path)


def _petseg(capsys, *argv):
  status = cli.main(list(argv))
  out, err = capsys.readouterr()
  return status, out, err


def test_schedule_dry_run_prints_the_recurring_run_request(package, capsys):
  status, out, err = _petseg(capsys, 'schedule', '--cron', '0 3 * * *', '--dry-run',
                             '--package', package, '--param', 'learning_rate=0.0005')
  assert status == 0, err
  request = json.loads(out)
  assert request['trigger'] == {'cron_schedule': {'cron': '0 0 3 * * *'}}  # seconds first
  assert request['max_concurrency'] == '1' and request['no_catchup'] is True
  assert request['mode'] == 'ENABLE' and request['display_name'] == 'petseg'
  assert request['runtime_config'] == {'pipeline_root': ROOT, 'parameters': {
      'epochs': 7, 'learning_rate': 0.0005, 'min_mean_iou': 0.4, 'model_name': 'unet_xception',
      'retrain': 0}}
  assert request['pipeline_version_reference']['pipeline_version_id'].startswith(
      '<id of version petseg-')
  assert 'then POST /apis/v2beta1/recurringruns' in err
  status, out, err = _petseg(capsys, 'submit', '--dry-run', '--package', package, '--retrain')
  assert status == 0, err
  assert json.loads(out)['runtime_config']['parameters']['retrain'] == 1  # trains all the same


def test_the_help_states_what_a_schedule_promises(capsys):
  with pytest.raises(SystemExit):
    cli.main(['schedule', '--help'])
  text = ' '.join(capsys.readouterr().out.split())
  assert 'at most one run at a time' in text and 'no catch-up' in text
  assert 'in UTC, e.g. "0 3 * * *"' in text


def test_submit_and_schedule_against_the_api(package, capsys):
  with kfp_api_server.serve() as (host, api):
    status, out, err = _petseg(capsys, 'submit', '--package', package, '--host', host,
                               '--namespace', NAMESPACE, '--param', 'epochs=40',
                               '--name', 'first')
    assert status == 0, err
    run, = api.runs.values()
    assert out.strip() == f'Run {run["run_id"]} (first): {host}/#/runs/details/{run["run_id"]}'
    assert run['runtime_config'] == {'pipeline_root': ROOT, 'parameters': {
        'epochs': 40, 'learning_rate': 0.001, 'min_mean_iou': 0.4,
        'model_name': 'unet_xception', 'retrain': 0}}
    experiment, = api.experiments.values()
    assert experiment['display_name'] == 'petseg' and experiment['namespace'] == NAMESPACE
    assert run['experiment_id'] == experiment['experiment_id']
    version = api.versions[run['pipeline_version_reference']['pipeline_version_id']]
    assert version['display_name'].startswith('petseg-')
    assert version['pipeline_spec']['defaultPipelineRoot'] == ROOT  # the package itself
    calls = [(r.method, r.path) for r in api.requests]
    assert calls == [('GET', '/apis/v2beta1/healthz'),
                     ('GET', '/apis/v2beta1/experiments'),
                     ('POST', '/apis/v2beta1/experiments'),
                     ('GET', '/apis/v2beta1/pipelines/names/petseg'),
                     ('POST', '/apis/v2beta1/pipelines/upload'),
                     ('GET', f'/apis/v2beta1/pipelines/{version["pipeline_id"]}/versions'),
                     ('POST', '/apis/v2beta1/pipelines/upload_version'),
                     ('POST', '/apis/v2beta1/runs')]
    assert api.requests[4].query == {'name': 'petseg', 'namespace': NAMESPACE}

    # A schedule of the same package: the experiment and the version are reused.
    del api.requests[:]
    status, out, err = _petseg(capsys, 'schedule', '--cron', '0 3 * * *', '--package',
                               package, '--host', host, '--namespace', NAMESPACE)
    assert status == 0, err
    recurring, = api.recurring_runs.values()
    assert recurring['trigger']['cron_schedule']['cron'] == '0 0 3 * * *'
    assert recurring['max_concurrency'] == '1' and recurring['no_catchup'] is True
    assert recurring['pipeline_version_reference'] == run['pipeline_version_reference']
    assert not [r for r in api.requests if 'upload' in r.path or r.method == 'POST'
                and r.path.endswith('/experiments')]
    assert 'at most one run at a time' in out and recurring['recurring_run_id'] in out

    status, out, _ = _petseg(capsys, 'schedule', '--list', '--host', host)
    assert out.split() == ['petseg', recurring['recurring_run_id'], '0', '0', '3', '*', '*',
                           '*', 'enabled']
    for action, mode in (('--pause', 'DISABLE'), ('--resume', 'ENABLE')):
      assert _petseg(capsys, 'schedule', action, 'petseg', '--host', host)[0] == 0
      assert recurring['mode'] == mode
    assert _petseg(capsys, 'schedule', '--delete', 'petseg', '--host', host)[0] == 0
    assert api.recurring_runs == {}
    status, _, err = _petseg(capsys, 'schedule', '--pause', 'petseg', '--host', host)
    assert status == 1 and "no recurring run named 'petseg'" in err


def _one_error(capsys, *argv):
  status, out, err = _petseg(capsys, *argv)
  lines = [line for line in err.splitlines() if line.startswith('petseg: error:')]
  assert status == 1 and len(lines) == 1 and 'Traceback' not in err, err
  return lines[0]


def test_bad_credentials_an_unreachable_host_and_another_server_are_one_line(package, capsys):
  with kfp_api_server.serve(token='secret') as (host, api):
    line = _one_error(capsys, 'submit', '--package', package, '--host', host)
    assert line.startswith(f'petseg: error: --host {host}: the credentials were refused '
                           '(HTTP 401')
    line = _one_error(capsys, 'submit', '--package', package, '--host', host, '--token', 'x')
    assert 'the credentials were refused' in line
    assert _petseg(capsys, 'submit', '--package', package, '--host', host,
                   '--token', 'secret')[0] == 0
    assert len(api.runs) == 1
  with socket.socket() as s:  # a port nothing listens on
    s.bind(('127.0.0.1', 0))
    closed = f'http://127.0.0.1:{s.getsockname()[1]}'
  line = _one_error(capsys, 'submit', '--package', package, '--host', closed)
  assert line.startswith(f'petseg: error: --host {closed}: cannot be reached (')
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    other = f'http://127.0.0.1:{server.server_address[1]}'
    line = _one_error(capsys, 'schedule', '--list', '--host', other)
    assert line.startswith(f'petseg: error: --host {other}: not a Kubeflow Pipelines API')
  finally:
    server.shutdown()
    server.server_close()
  assert 'expected the API\'s URL' in _one_error(capsys, 'submit', '--package', package,
                                                  '--host', 'ml-pipeline:8888')
  assert '--host: the Kubeflow Pipelines API is required' in _one_error(
      capsys, 'schedule', '--list')


def test_bad_requests_are_refused_before_anything_is_sent(package, capsys):
  for argv, said in ((['--param', 'epoch=3'], '--param epoch: not a parameter'),
                     (['--param', 'epochs=many'], '--param epochs=many: not a NUMBER_INTEGER'),
                     (['--cron', '3 * * *'], 'expected five fields'),
                     (['--cron', '0 3 * * *', '--list'], 'give one of --cron')):
    assert said in _one_error(capsys, 'schedule', '--package', package, '--dry-run',
                              *(argv if '--cron' in argv else ['--cron', '0 3 * * *', *argv]))


def test_vertex_requests(tmp_path, capsys):
  path = tmp_path / 'vertex.json'
  assert cli.main(['compile', '--engine', 'kubeflow', '--target', 'vertex', '--output',
                   str(path), '--image', 'registry.example/petseg:1', '--dataset',
                   'oxford_pets', '--pipeline-root', 'gs://bucket/root', '--data-dir',
                   'gs://bucket/data']) == 0
  capsys.readouterr()
  status, out, err = _petseg(capsys, 'schedule', '--package', str(path), '--cron',
                             '0 3 * * *', '--dry-run', '--project', 'p', '--param', 'epochs=9')
  assert status == 0, err
  request = json.loads(out)
  schedule = request['schedule']
  assert request['parent'] == 'projects/p/locations/us-central1'
  assert schedule['cron'] == 'TZ=UTC 0 3 * * *'
  assert schedule['maxConcurrentRunCount'] == '1' and schedule['catchUp'] is False
  job = schedule['createPipelineJobRequest']['pipelineJob']
  assert job['runtimeConfig']['gcsOutputDirectory'] == 'gs://bucket/root'
  assert job['runtimeConfig']['parameterValues']['epochs'] == 9
  assert job['pipelineSpec']['pipelineInfo']['name'] == 'petseg'
  status, out, err = _petseg(capsys, 'submit', '--package', str(path), '--dry-run',
                             '--project', 'p', '--location', 'europe-west4')
  assert status == 0, err
  assert json.loads(out)['parent'] == 'projects/p/locations/europe-west4'
  assert '--project: required for Vertex AI' in _one_error(
      capsys, 'submit', '--package', str(path), '--dry-run')
