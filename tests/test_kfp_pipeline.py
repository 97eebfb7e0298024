"""The compiled pipeline, run task by task as Kubeflow runs it (tests/kfp_harness.py), to a
released model, under both launchers, with the serving directory as the only registry:

1. open-source KFP 2.x (spec compiled for `--target kfp`, MinIO pipeline root): the first
   release, pushed as version 1 with its release record; the HTML report an artifact;
2. Vertex AI (spec compiled for `--target vertex`, ExampleGen's pre-cache check run): the
   same data and settings, compared against version 1 found in the serving directory;
3. Vertex AI again, min_mean_iou overridden to 0.99 at submission: everything up to the
   Trainer from the cache, the registry read again, not blessed, nothing pushed.
"""
import json
import os

import pytest

from petseg import cli
from petseg.components import release_registry
from tests import kfp_harness

pytestmark = pytest.mark.slow
IMAGE = 'registry.example/petseg:test'
FLAGS = ['--image-size', '64', '--epochs', '2', '--batch-size', '8', '--min-mean-iou', '0',
         '--max-mean-iou-drop', '0.5', '--max-slice-drop', '0.5']


def _spec(tmp_path, sample_dir, target, pipeline_root, serving):
  output = tmp_path / f'{target}.json'
  assert cli.main(['compile', '--engine', 'kubeflow', '--target', target, '--output',
                   str(output), '--image', IMAGE, '--pipeline-root', pipeline_root,
                   '--serving-dir', str(serving), '--dataset', 'oxford_pets', '--data-dir',
                   str(sample_dir), *FLAGS]) == 0
  with open(output) as f:
    return json.load(f)['pipelineSpec']


def _summary(backend, runs):
  summary_uri = runs['ReleaseRecord'].outputs['summary']['uri']
  with open(os.path.join(backend.stored(summary_uri), 'release.json')) as f:
    return json.load(f)


@pytest.fixture(scope='module')
def runs(tmp_path_factory, sample_dir):
  tmp_path = tmp_path_factory.mktemp('kfp')
  serving = tmp_path / 'serving'
  oss = kfp_harness.Backend('kfp', str(tmp_path / 'oss'))
  first = oss.run(_spec(tmp_path, sample_dir, 'kfp', 'minio://mlpipeline/v2/artifacts',
                        serving), 'minio://mlpipeline/v2/artifacts')
  first_versions = sorted(os.listdir(serving))
  vertex = kfp_harness.Backend('vertex', str(tmp_path / 'vertex'))
  root = str(tmp_path / 'vertex-root')
  vertex_spec = _spec(tmp_path, sample_dir, 'vertex', root, serving)
  second = vertex.run(vertex_spec, root)
  second_versions = sorted(os.listdir(serving))
  third = vertex.run(vertex_spec, root, parameters={'min_mean_iou': 0.99})
  return {'serving': serving, 'oss': oss, 'vertex': vertex,
          'first': (first, first_versions), 'second': (second, second_versions),
          'third': (third, sorted(os.listdir(serving)))}


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
                             'max_class_drop': {}}
  assert summary['pipeline_run'] == 'run-1-0000-kfp'  # the backend's placeholder, replaced
  record = release_registry.read_record(str(runs['serving'] / '1'))
  assert record['version'] == 1 and record['released_at']
  for key in ('test', 'gate', 'data_fingerprint', 'config_fingerprint', 'model',
              'pipeline_run', 'training', 'data'):
    assert record[key] == summary[key], key
  assert set(record['test']['per_class_iou']) == {'pet', 'background', 'border'}
  # The artifacts went through MinIO: recorded under their own URIs, stored there.
  pushed = first['Pusher'].outputs['pushed_model']
  assert pushed['uri'].startswith('minio://mlpipeline/v2/artifacts/')
  assert pushed['metadata']['pushed_destination'] == str(runs['serving'] / '1')


def test_the_report_is_an_html_artifact_the_kfp_ui_shows(runs):
  first, _ = runs['first']
  report = first['ReleaseRecord'].outputs['report']
  assert json.dumps(report['type']).count('system.HTML') == 1
  with open(runs['oss'].stored(report['uri'])) as f:  # one file at the artifact's URI
    page = f.read()
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
  assert summary['baseline']['model_path'] == str(runs['serving'] / '1')
  assert summary['baseline']['mean_iou'] == pytest.approx(first_summary['test']['mean_iou'])
  assert summary['blessed'] and summary['gate']['max_mean_iou_drop'] == 0.5
  assert summary['comparison']['max_slice_drop'] == 0.5 and summary['comparison']['checks']
  assert summary['data_fingerprint'] == first_summary['data_fingerprint']  # same data
  pushed = second['Pusher'].outputs['pushed_model']['metadata']['pushed_version']
  assert versions == sorted({'1', pushed})  # the same model stays version 1


def test_an_unreachable_bound_set_at_submission_pushes_nothing(runs):
  third, versions = runs['third']
  assert versions == runs['second'][1]
  states = {name: r.state for name, r in third.items()}
  assert states.pop('Pusher') == 'skipped'
  assert {name for name, state in states.items() if state == 'ran'} == {
      'LatestRelease', 'Evaluator', 'ReleaseRecord'}
  assert all(state == 'cached' for name, state in states.items()
             if name not in ('LatestRelease', 'Evaluator', 'ReleaseRecord'))
  summary = _summary(runs['vertex'], third)
  assert not summary['blessed'] and summary['gate']['min_mean_iou'] == 0.99
  assert summary['reasons'] == [
      f'mean_iou {summary["test"]["mean_iou"]:.3f} is below the lower bound 0.990 by '
      f'{0.99 - summary["test"]["mean_iou"]:.3f}']
