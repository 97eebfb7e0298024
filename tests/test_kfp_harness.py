"""The Kubeflow harness's own behaviours, each at the versions the backend's Go source
changes it (kubeflow/pipelines backend/src/v2), so that tests/test_kfp_pipeline.py runs
the pipeline against the backend as each release is."""
import pytest

from tests import kfp_harness

LOCAL_STORE = {'AWS_ENDPOINT_URL': 'http://127.0.0.1:9'}


def _backend(tmp_path, version, flavour='kfp', s3=None, **kwargs):
  return kfp_harness.Backend(flavour, str(tmp_path), s3, LOCAL_STORE, version=version,
                             **kwargs)


def _spec(image='registry.example/petseg:1', env=()):
  return {'pipelineInfo': {'name': 'p'},
          'components': {'comp-a': {'executorLabel': 'exec-a'}},
          'deploymentSpec': {'executors': {'exec-a': {'container': {
              'image': image, 'command': ['python', '-c', 'pass'], 'args': [],
              'env': list(env)}}}},
          'root': {'dag': {'tasks': {'a': {'componentRef': {'name': 'comp-a'}}}}}}


@pytest.mark.parametrize('version, skipped', [('2.5.0', False), ('2.16.1', False),
                                              ('2.17.0', True)])
def test_keys_beside_an_artifact_are_downloaded_with_it_until_2_17(s3, tmp_path, version,
                                                                    skipped):
  """objectstore.DownloadBlob lists by key prefix; isBlobKeyUnderPrefix (2.17.0) drops
  the keys that only share the prefix (model-2/... for the artifact model)."""
  _, client = s3
  bucket = f'harness-{version.replace(".", "-")}'
  client.create_bucket(Bucket=bucket)
  for key in ('run/model/saved_model.pb', 'run/model-2/saved_model.pb'):
    client.put_object(Bucket=bucket, Key=key, Body=b'x')
  backend = _backend(tmp_path, version, s3=client)
  local = tmp_path / 'copy' / 'model'
  backend._download(f's3://{bucket}/run/model', str(local))  # pylint: disable=protected-access
  assert (local / 'saved_model.pb').exists()
  assert (tmp_path / 'copy' / 'model-2' / 'saved_model.pb').exists() is not skipped


@pytest.mark.parametrize('version, replaced', [('2.5.0', False), ('2.15.0', False),
                                               ('2.16.0', True), ('2.17.0', True)])
def test_the_create_and_schedule_times_are_replaced_from_2_16(tmp_path, version, replaced):
  backend = _backend(tmp_path, version)
  for placeholder in ('{{$.pipeline_job_create_time_utc}}',
                      '{{$.pipeline_job_schedule_time_utc}}'):
    value = backend._placeholder(placeholder, 'run-1', 'a')  # pylint: disable=protected-access
    assert (value != placeholder) is replaced
  uuid = backend._placeholder('{{$.pipeline_job_uuid}}', 'run-1', 'a')  # pylint: disable=protected-access
  assert uuid == 'run-1'


def test_the_pipeline_root_is_the_runs_else_the_launchers_or_on_vertex_the_specs(tmp_path):
  spec = {**_spec(), 'defaultPipelineRoot': 'minio://mlpipeline/spec-root'}
  oss = _backend(tmp_path, '2.17.0', launcher_root='minio://mlpipeline/launcher-root')
  assert oss.pipeline_root(spec, 'minio://mlpipeline/run-root') == 'minio://mlpipeline/run-root'
  assert oss.pipeline_root(spec, None) == 'minio://mlpipeline/launcher-root'  # not the spec's
  assert _backend(tmp_path, '2.17.0').pipeline_root(spec, None) == (
      kfp_harness.LAUNCHER_DEFAULT_ROOT)
  vertex = _backend(tmp_path, '2.17.0', flavour='vertex')
  assert vertex.pipeline_root(spec, None) == 'minio://mlpipeline/spec-root'
  with pytest.raises(ValueError, match='no pipeline root'):
    vertex.pipeline_root(_spec(), None)


@pytest.mark.parametrize('version, service', [('2.15.0', 'minio-service.kubeflow:9000'),
                                              ('2.16.0', 'seaweedfs.kubeflow:9000')])
def test_a_step_reaches_only_the_store_the_cluster_serves(tmp_path, image, version, service):
  backend = _backend(tmp_path, version, images={'registry.example/petseg:1': image})
  other = ({'seaweedfs.kubeflow:9000', 'minio-service.kubeflow:9000'} - {service}).pop()
  with pytest.raises(kfp_harness.TaskFailed, match=f'http://{other}: no such host'):
    backend.run(_spec(env=[{'name': 'AWS_ENDPOINT_URL', 'value': f'http://{other}'}]))
  runs = backend.run(_spec(env=[{'name': 'AWS_ENDPOINT_URL', 'value': f'http://{service}'}]))
  assert runs['a'].state == 'ran'


def test_an_image_the_registry_lacks_cannot_be_pulled(tmp_path, image):
  backend = _backend(tmp_path, '2.17.0', images={'registry.example/petseg:1': image})
  with pytest.raises(kfp_harness.TaskFailed, match='image other/petseg:1 cannot be pulled'):
    backend.run(_spec(image='other/petseg:1'))
