"""The compiled pipeline, run task by task as Kubeflow runs it (tests/kfp_harness.py), to a
released model, with an S3 server on localhost as the only store: the data, the pipeline
root and the release registry are all in its buckets. Every task runs in the image as
kubeflow/Dockerfile builds it (replayed: petseg installed, not editable, in an environment
of its own), from its working directory, in a pod directory of its own.

1. open-source KFP at the oldest supported backend, a multi-user install's profile
   namespace, compiled for that version (MinIO's address) with the namespace's defaults
   for the data and the registry, submitted with the spec's pipeline root, caching forced
   on at submission as the SDK does: the first release, version 1, with its release record;
2. Vertex AI (ExampleGen's pre-cache check run), 3 epochs instead of 2, submitted without
   a pipeline root (the spec's is taken): compared against version 1 found in the
   registry, and released as version 2;
3. open-source KFP again, upgraded to the newest supported backend: the spec compiled for
   the old one cannot reach the store (SeaweedFS replaced MinIO); compiled again for the
   new one and submitted without a root (the profile's launcher root is taken), caching
   forced on, min_mean_iou 0.99: the registry is read again (the baseline is version 2,
   released since run 1), not blessed, nothing pushed;
4. the same with 3 epochs, the settings of version 2 on the same data: nothing new, every
   step after LatestRelease skipped, and said in the decision log.
"""
import json
import os

import pytest

from petseg import cli
from petseg.core import bootstrap
from petseg.kubeflow import runner
from petseg.registry import versions as release_registry
from tests import kfp_harness
from tests import s3_server

pytestmark = pytest.mark.slow
IMAGE = 'registry.example/petseg:test'
FLAGS = ['--image-size', '64', '--epochs', '2', '--batch-size', '8', '--min-mean-iou', '0',
         '--max-mean-iou-drop', '0.5', '--max-slice-drop', '0.5']
NAMESPACE = 'kubeflow-user-example-com'
# The defaults of --namespace: where the profile's keys may write.
DATA = f'minio://mlpipeline/private/{NAMESPACE}/data/oxford_pets'
SERVING = f'minio://mlpipeline/private/{NAMESPACE}/serving/petseg'
SERVING_S3 = SERVING.replace('minio://', 's3://')
OSS_ROOT = 'minio://mlpipeline/v2/artifacts'  # the launcher's before 2.15
PROFILE_ROOT = f'minio://mlpipeline/private-artifacts/{NAMESPACE}/v2/artifacts'  # from 2.15
VERTEX_ROOT = 's3://vertex-root/petseg'


def _package(tmp_path, output, *flags):
  path = tmp_path / output
  assert cli.main(['compile', '--engine', 'kubeflow', '--output', str(path), '--image', IMAGE,
                   '--dataset', 'oxford_pets', *FLAGS, *flags]) == 0
  return str(path)


def _oss_package(tmp_path, version):
  return kfp_harness.load(_package(tmp_path, f'kfp-{version}.yaml', '--kfp-version', version,
                                   '--namespace', NAMESPACE), force_caching=True)


def _summary(backend, runs):
  return json.loads(backend.read(runs['ReleaseRecord'].outputs['summary']['uri']
                                 + '/release.json'))


def _record(backend, version):
  return json.loads(backend.read(f'{SERVING}/{version}/assets.extra/release.json'))


def _versions(backend):
  """What the serving directory holds but the registry's own entries (log, page)."""
  return sorted({key.split('/')[0] for key in backend.keys(SERVING)}
                - set(release_registry.OWN_ENTRIES))


def _strings(value):
  if isinstance(value, dict):
    return [s for v in value.values() for s in _strings(v)]
  if isinstance(value, list):
    return [s for v in value for s in _strings(v)]
  return [value] if isinstance(value, str) else []


@pytest.fixture(scope='module')
def runs(tmp_path_factory, sample_dir, s3, image):
  env, client = s3
  s3_server.stage(client, str(sample_dir), 'mlpipeline', DATA.split('/', 3)[3], 'vertex-root')
  tmp_path = tmp_path_factory.mktemp('kfp')
  secrets = {runner.MINIO_SECRET: {'accesskey': env['AWS_ACCESS_KEY_ID'],
                                   'secretkey': env['AWS_SECRET_ACCESS_KEY']}}
  oss = kfp_harness.Backend('kfp', str(tmp_path / 'oss'), client,
                            {'AWS_ENDPOINT_URL': env['AWS_ENDPOINT_URL']},
                            version=kfp_harness.OLDEST, secrets=secrets,
                            images={IMAGE: image})
  old_spec, old_platform = _oss_package(tmp_path, '2.5')
  first = oss.run(old_spec, old_spec['defaultPipelineRoot'], platform=old_platform)
  first_versions = _versions(oss)
  vertex = kfp_harness.Backend('vertex', str(tmp_path / 'vertex'), client, env,
                               images={IMAGE: image})
  vertex_spec, _ = kfp_harness.load(_package(
      tmp_path, 'vertex.json', '--target', 'vertex', '--pipeline-root', VERTEX_ROOT,
      '--serving-dir', SERVING, '--data-dir', DATA))
  second = vertex.run(vertex_spec, parameters={'epochs': 3})
  second_versions = _versions(oss)
  # The upgrade: the store moves to SeaweedFS, the profile's launcher root to its prefix.
  oss.version, oss.launcher_root = kfp_harness.NEWEST, PROFILE_ROOT
  with pytest.raises(kfp_harness.TaskFailed) as stale:
    oss.run(old_spec, platform=old_platform)
  oss_spec, platform = _oss_package(tmp_path, '2.17')
  third = oss.run(oss_spec, parameters={'min_mean_iou': 0.99}, platform=platform)
  third_versions = _versions(oss)
  # The data and settings of version 2 (Vertex AI's run): nothing new to train on.
  fourth = oss.run(oss_spec, parameters={'epochs': 3}, platform=platform)
  return {'oss': oss, 'vertex': vertex, 'oss_spec': oss_spec, 'platform': platform,
          'old_spec': old_spec, 'stale': str(stale.value),
          'first': (first, first_versions), 'second': (second, second_versions),
          'third': (third, third_versions), 'fourth': (fourth, _versions(oss)),
          'tmp_path': tmp_path}


def test_every_step_runs_from_the_images_working_directory_with_its_install(runs, image):
  """The steps import petseg from the image's site-packages, never from a source tree."""
  first, _ = runs['first']
  assert image.workdir == '/home/petseg' and not os.listdir(image.path(image.workdir))
  for name, task in runs['old_spec']['root']['dag']['tasks'].items():
    executor = runs['old_spec']['deploymentSpec']['executors'][
        runs['old_spec']['components'][task['componentRef']['name']]['executorLabel']]
    assert executor['container']['command'][:3] == ['python', '-m', 'petseg.kubeflow.entrypoint']
    assert executor['container']['image'] == IMAGE, name
  assert set(first) == set(runs['old_spec']['root']['dag']['tasks'])


def test_a_spec_compiled_for_minio_cannot_reach_the_store_after_the_upgrade(runs):
  assert 'http://minio-service.kubeflow:9000: no such host in the cluster' in runs['stale']
  assert 'seaweedfs.kubeflow:9000' in runs['stale']
  for executor in runs['oss_spec']['deploymentSpec']['executors'].values():
    assert {'name': 'AWS_ENDPOINT_URL', 'value': 'http://seaweedfs.kubeflow:9000'} in executor[
        'container']['env']


def test_the_pipeline_root_is_the_submitted_one_else_the_backends_choice(runs):
  assert runs['old_spec']['defaultPipelineRoot'] == OSS_ROOT
  assert runs['oss_spec']['defaultPipelineRoot'] == PROFILE_ROOT
  first, _ = runs['first']
  assert first['Trainer'].outputs['model']['uri'].startswith(f'{OSS_ROOT}/petseg/run-1-')
  third, _ = runs['third']  # submitted without one: the launcher's, in the profile's prefix
  assert third['Trainer'].outputs['model']['uri'].startswith(f'{PROFILE_ROOT}/petseg/')
  second, _ = runs['second']  # Vertex AI: the spec's
  assert second['Trainer'].outputs['model']['uri'].startswith(f'{VERTEX_ROOT}/')


def test_first_release_on_open_source_kfp_is_pushed_as_version_1_with_its_record(runs):
  first, versions = runs['first']
  assert {name: r.state for name, r in first.items()} == {name: 'ran' for name in first}
  assert versions == ['1']
  assert 'No released version' in first['LatestRelease'].log
  assert 'input_fingerprint' not in first['ExampleGen'].log  # no pre-cache check here
  summary = _summary(runs['oss'], first)
  assert summary['blessed'] and summary['baseline'] is None
  assert summary['gate'] == {'min_mean_iou': 0.0, 'min_class_iou': {},
                             'max_mean_iou_drop': None, 'max_slice_drop': None,
                             'max_class_drop': {}, 'min_slice_images': 40,
                             'bootstrap_resamples': bootstrap.DEFAULT_RESAMPLES,
                             'bootstrap_seed': bootstrap.DEFAULT_SEED,
                             'error_rate': None}  # a first release: nothing compared
  assert summary['pipeline_run'] == f'run-1-0000-kfp-{kfp_harness.OLDEST}'  # replaced
  record = _record(runs['oss'], 1)
  assert record['version'] == 1 and record['released_at']
  for key in ('test', 'gate', 'data_fingerprint', 'config_fingerprint', 'model',
              'pipeline_run', 'training', 'data'):
    assert record[key] == summary[key], key
  assert set(record['test']['per_class_iou']) == {'pet', 'background', 'border'}
  # The artifacts went through MinIO: recorded under their own URIs, stored there.
  pushed = first['Pusher'].outputs['pushed_model']
  assert pushed['uri'].startswith(f'{OSS_ROOT}/petseg/run-1-')
  assert pushed['metadata']['pushed_destination'] == f'{SERVING_S3}/1'


def test_release_records_name_only_uris_that_outlive_the_pods(runs):
  """Every path in the release record, its model card and the report is a URI in the
  store, never a pod's local copy of an artifact."""
  first, _ = runs['first']
  summary = _summary(runs['oss'], first)
  strings = _strings(summary)
  assert not [s for s in strings if s.startswith('/')]
  uris = [s for s in strings if '://' in s]
  assert uris and all(u.startswith(('minio://', 's3://')) for u in uris), uris
  assert summary['model_path'].startswith(f'{OSS_ROOT}/petseg/run-1-')
  record = _strings(_record(runs['oss'], 1))  # the model card in it too
  assert summary['model_path'] in record and not [s for s in record if s.startswith('/')]
  page = runs['oss'].read(first['ReleaseRecord'].outputs['report']['uri']).decode()
  assert str(runs['tmp_path']) not in page and str(runs['tmp_path']) not in json.dumps(
      _record(runs['oss'], 1))
  assert f'Model: {summary["model_path"]}' in page


def test_the_report_is_an_html_artifact_the_kfp_ui_shows(runs):
  first, _ = runs['first']
  report = first['ReleaseRecord'].outputs['report']
  assert json.dumps(report['type']).count('system.HTML') == 1
  page = runs['oss'].read(report['uri']).decode()  # one file at the artifact's URI
  assert page.startswith('<!doctype html>') and 'Blessed.' in page
  assert 'no released model to compare with' in page  # a first release
  assert page.count('src="data:image/png;base64,') == 3 * 8  # image, truth, prediction


def test_vertex_run_compares_against_the_version_released_by_the_first(runs):
  second, versions = runs['second']
  assert all(r.state == 'ran' for r in second.values())
  assert 'Baseline: version 1' in second['LatestRelease'].log
  assert 'input_fingerprint' in second['ExampleGen'].log  # the pre-cache check ran
  summary = _summary(runs['vertex'], second)
  first_summary = _summary(runs['oss'], runs['first'][0])
  assert summary['baseline']['version'] == 1
  assert summary['baseline']['model_path'] == f'{SERVING_S3}/1'
  assert summary['baseline']['mean_iou'] == pytest.approx(first_summary['test']['mean_iou'])
  assert summary['blessed'] and summary['gate']['max_mean_iou_drop'] == 0.5
  assert summary['training']['epochs'] == 3
  assert summary['comparison']['max_slice_drop'] == 0.5 and summary['comparison']['checks']
  assert summary['data_fingerprint'] == first_summary['data_fingerprint']  # same data
  assert versions == ['1', '2']


def test_forced_caching_does_not_serve_a_stale_baseline(runs):
  """Run 3 submits the same pipeline (compiled for the upgraded backend) with caching
  forced on, after version 2 was released: the registry is read again, and the model
  compared with version 2."""
  third, versions = runs['third']
  assert all(task.get('cachingOptions', {}).get('enableCache')
             for task in runs['oss_spec']['root']['dag']['tasks'].values())
  assert versions == ['1', '2']
  assert third['LatestRelease'].state == 'ran' and 'Baseline: version 2' in third[
      'LatestRelease'].log
  assert third['ExampleGen'].state == 'ran'  # no pre-cache check: it ingests again
  # Caching is on, but LatestRelease (never cached) hands every later step a new input,
  # its verdict on whether anything is new: on this backend no step comes from the cache.
  assert {task.state for task in third.values()} == {'ran', 'skipped'}
  summary = _summary(runs['oss'], third)
  assert summary['baseline']['version'] == 2
  assert summary['pipeline_run'] == f'run-3-0000-kfp-{kfp_harness.NEWEST}'


def test_an_unreachable_bound_set_at_submission_pushes_nothing(runs):
  third, _ = runs['third']
  assert third['Pusher'].state == 'skipped'
  summary = _summary(runs['oss'], third)
  assert not summary['blessed'] and summary['gate']['min_mean_iou'] == 0.99
  assert summary['reasons'] == [
      f'mean_iou {summary["test"]["mean_iou"]:.3f} is below the lower bound 0.990 by '
      f'{0.99 - summary["test"]["mean_iou"]:.3f}']
  # The registry's decision log, in the object store: both releases, this refusal, and
  # the fourth run's nothing new.
  log = sorted(k for k in runs['oss'].keys(SERVING) if k.startswith('.log/'))
  decisions = [json.loads(runs['oss'].read(f'{SERVING}/{k}')) for k in log]
  assert [(d['action'], d['version']) for d in decisions] == [
      ('released', 1), ('released', 2), ('refused', None), ('nothing new', 2)]
  assert decisions[2]['reasons'] == summary['reasons']
  assert decisions[2]['pipeline_run'] == summary['pipeline_run']
  assert 'index.html' in runs['oss'].keys(SERVING)


def test_the_backend_refuses_unknown_or_mistyped_run_parameters(runs):
  for parameters, said in (({'epoch': 3}, 'unknown run parameters'),
                           ({'epochs': 2.5}, 'is not a NUMBER_INTEGER'),
                           ({'min_mean_iou': '0.5'}, 'is not a NUMBER_DOUBLE')):
    with pytest.raises(ValueError, match=said):
      runs['oss'].run(runs['oss_spec'], parameters=parameters,
                      platform=runs['platform'])


def test_a_run_with_nothing_new_trains_nothing_and_says_why(runs):
  fourth, versions = runs['fourth']
  assert versions == ['1', '2']
  ran = sorted(name for name, task in fourth.items() if task.state == 'ran')
  assert ran == ['ExampleGen', 'LatestRelease']  # ingestion runs every time on this backend
  assert {task.state for name, task in fourth.items() if name not in ran} == {'skipped'}
  second_summary = _summary(runs['vertex'], runs['second'][0])
  line = (f'Nothing new since version 2: data {second_summary["data_fingerprint"][:12]}, '
          f'settings {second_summary["config_fingerprint"][:12]}')
  assert line in fourth['LatestRelease'].log
  freshness = fourth['LatestRelease'].outputs['freshness']['metadata']
  assert freshness['nothing_new'] == 1 and freshness['released_version'] == 2
  # The third run (another gate) was not nothing new: it went on to be refused.
  third, _ = runs['third']
  assert runs['third'][0]['Trainer'].state == 'ran'
  assert 'New since version 2: settings' in third['LatestRelease'].log
