"""The step entrypoint under both Kubeflow launchers: each executor input that TFX 1.16's own
entrypoint fails on (reproduced here with TFX's own parser), then read by ours."""
import copy
import json
import os

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
import pytest
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as tfx_parse
from tfx.types import standard_artifacts

from petseg.components.release_record import component as release_record
from petseg.core import storage
from petseg.kubeflow import entrypoint

EXAMPLES = {'instanceSchema': 'title: tfx.Examples\ntype: object\nproperties:\n  split_names:'
                              '\n    type: string\n'}
MODEL = {'instanceSchema': 'title: tfx.Model\ntype: object\n'}
SPLITS = {'split_names': '["train", "eval"]'}

# What arrives for an input declared as Examples (or Model), per launcher behaviour.
ARRIVING = {
    # open-source KFP 2.x: rebuilt from ML Metadata, no type (tensorflow/tfx#7768)
    'untyped': ({'name': '7', 'uri': '/a', 'metadata': SPLITS}, EXAMPLES),
    'system title': ({'name': '7', 'uri': '/a', 'type': {'schemaTitle': 'system.Model'}},
                     MODEL),
    'empty instance schema': ({'name': '7', 'uri': '/a', 'type': {'instanceSchema': ''}},
                              MODEL),
    # Examples collapsed into the title of another type
    'collapsed': ({'name': '7', 'uri': '/a', 'type': {'schemaTitle': 'system.Dataset'},
                   'metadata': SPLITS}, EXAMPLES),
}


def _tfx_parse(artifacts):
  parsed = {}
  for key, artifact_list in artifacts.items():
    message = pipeline_spec_pb2.ArtifactList()
    json_format.ParseDict(artifact_list, message)
    parsed[key] = tfx_parse.parse_raw_artifact_dict({key: message})[key]
  return parsed


def _executor_input(inputs=None, outputs=None, output_file='/tmp/out.json'):
  return {'inputs': {'artifacts': {k: {'artifacts': [a]} for k, a in (inputs or {}).items()},
                     'parameterValues': {}},
          'outputs': {'artifacts': {k: {'artifacts': [a]} for k, a in (outputs or {}).items()},
                      'outputFile': output_file}}


@pytest.mark.parametrize('case', sorted(ARRIVING))
def test_an_input_gets_the_type_its_component_declares(case):
  arriving, declared = ARRIVING[case]
  executor_input = _executor_input(inputs={'examples': dict(arriving)})
  with pytest.raises((ImportError, AttributeError, UnboundLocalError)):  # TFX alone
    _tfx_parse(executor_input['inputs']['artifacts'])
  fixed, _ = entrypoint.normalise(executor_input,
                                  {'artifacts': {'examples': {'artifactType': declared}}})
  artifact, = _tfx_parse(fixed['inputs']['artifacts'])['examples']
  expected = standard_artifacts.Examples if declared is EXAMPLES else standard_artifacts.Model
  assert type(artifact) is expected  # pylint: disable=unidiomatic-typecheck
  assert artifact.uri == '/a'
  if 'metadata' in arriving:
    assert artifact.split_names == '["train", "eval"]'  # a property of Examples, kept


def test_the_launchers_log_output_is_not_handed_to_tfx():
  logs = {'name': 'executor-logs', 'uri': '/logs',
          'type': {'schemaTitle': 'system.Artifact'}}
  summary = {'name': 'summary', 'uri': '/s',
             'type': {'instanceSchema': 'title: petseg.RunSummary\ntype: object\n'}}
  executor_input = _executor_input(outputs={'executor-logs': logs, 'summary': summary})
  with pytest.raises(ImportError):
    _tfx_parse({'executor-logs': executor_input['outputs']['artifacts']['executor-logs']})
  fixed, _ = entrypoint.normalise(executor_input, {})
  assert list(fixed['outputs']['artifacts']) == ['summary']


@pytest.mark.parametrize('artifact_type', release_record.CUSTOM_TYPES)
def test_petseg_artifact_types_are_parsed_as_their_class(artifact_type):
  """TFX compiles a custom type's TYPE_NAME as its title, then imports the title."""
  typed = {'name': 'x', 'uri': '/x', 'type': {
      'instanceSchema': f'title: {artifact_type.TYPE_NAME}\ntype: object\n'}}
  with pytest.raises(ImportError):
    _tfx_parse({'x': {'artifacts': [typed]}})
  fixed, _ = entrypoint.normalise(_executor_input(outputs={'x': typed}), {})
  artifact, = _tfx_parse(fixed['outputs']['artifacts'])['x']
  assert type(artifact) is artifact_type  # pylint: disable=unidiomatic-typecheck


def test_object_store_artifacts_are_read_and_written_at_the_launchers_local_copies(
    tmp_path, monkeypatch):
  monkeypatch.setenv(storage.LOCAL_ROOT_ENV, str(tmp_path))
  examples = {'name': '3', 'uri': 'minio://mlpipeline/v2/run/ExampleGen/examples',
              'metadata': SPLITS}
  model = {'name': 'model', 'uri': 'minio://mlpipeline/v2/run/Trainer/model', 'type': MODEL}
  report = {'name': 'report', 'uri': 's3://bucket/run/ReleaseRecord/report',
            'type': {'instanceSchema': 'title: system.HTML\ntype: object\n'}}
  on_gcs = {'name': 'run', 'uri': 'gs://bucket/run/Trainer/model_run',
            'type': {'instanceSchema': 'title: tfx.ModelRun\ntype: object\n'}}
  own_uris = {'model': model['uri'], 'report': report['uri'], 'model_run': on_gcs['uri']}
  output_file = tmp_path / 'tmp' / 'kfp_outputs' / 'output_metadata.json'
  executor_input = _executor_input({'examples': examples},
                                   {'model': model, 'report': report, 'model_run': on_gcs},
                                   str(output_file))
  inputs_spec = {'artifacts': {'examples': {'artifactType': EXAMPLES}}}
  # Vertex AI (no --local_artifact_copies): every artifact where it is, minio:// as s3://.
  direct, relocated = entrypoint.normalise(copy.deepcopy(executor_input), inputs_spec)
  assert relocated == {'s3://mlpipeline/v2/run/ExampleGen/examples': examples['uri'],
                       's3://mlpipeline/v2/run/Trainer/model': model['uri']}
  assert direct['outputs']['artifacts']['model_run']['artifacts'][0]['uri'] == on_gcs['uri']
  fixed, relocated = entrypoint.normalise(executor_input, inputs_spec, local_copies=True)
  artifacts = {**fixed['inputs']['artifacts'], **fixed['outputs']['artifacts']}
  uris = {key: a['artifacts'][0]['uri'] for key, a in artifacts.items()}
  assert uris == {'examples': str(tmp_path / 'minio/mlpipeline/v2/run/ExampleGen/examples'),
                  'model': str(tmp_path / 'minio/mlpipeline/v2/run/Trainer/model'),
                  'report': str(tmp_path / 's3/bucket/run/ReleaseRecord/report'),
                  # written file by file by the launcher: no directory markers on GCS
                  'model_run': str(tmp_path / 'gcs/bucket/run/Trainer/model_run')}

  entrypoint.make_output_dirs(fixed)
  assert os.path.isdir(uris['model'])  # a directory artifact
  assert os.path.isdir(os.path.dirname(uris['report']))  # a file artifact: its folder
  assert not os.path.exists(uris['report'])

  # TFX reports what it wrote under the paths it was given; the launcher records the URI
  # the step reports, so the artifacts' own URIs go back in.
  output_file.parent.mkdir(parents=True)
  output_file.write_text(json.dumps({'artifacts': {
      key: {'artifacts': [{'uri': uris[key], 'metadata': {'k': 1}}]}
      for key in ('model', 'report', 'model_run')}}))
  entrypoint.restore_uris(str(output_file), relocated)
  reported = json.loads(output_file.read_text())['artifacts']
  assert {k: v['artifacts'][0]['uri'] for k, v in reported.items()} == own_uris
  assert len(relocated) == 4
  assert reported['model']['artifacts'][0]['metadata'] == {'k': 1}


def test_local_paths_are_used_as_they_are(monkeypatch):
  monkeypatch.delenv(storage.LOCAL_ROOT_ENV, raising=False)
  assert storage.local_copy('minio://b/k') == '/minio/b/k'
  assert storage.local_copy('gs://b/k') == '/gcs/b/k'
  assert storage.local_copy('/data/pipeline/x') is None
