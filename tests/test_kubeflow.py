"""The Kubeflow Pipelines v2 spec: compiled offline from the same create_pipeline(), with
the local pipeline's wiring, the image, the runtime parameters; and one compiled task run
through TFX's own container entrypoint."""
import importlib
import json
import os
import re
import socket
import subprocess
import sys

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
import pytest
import yaml

from petseg import cli
from petseg import config as config_lib
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import release

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = 'registry.example/petseg:test'
PIPELINE_ROOT = 'gs://petseg-test/root'  # only written to the spec: compiling is offline
ENTRYPOINT = ['python', '-m', 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor']
RESOLVER = 'latest_blessed_model_resolver'
FLAGS = ['--epochs', '7', '--learning-rate', '0.003', '--model', 'unet_mobilenetv2',
         '--min-mean-iou', '0.55', '--image-size', '64']


def _compile(tmp_path, sample_dir, output, *extra):
  assert cli.main(['compile', '--engine', 'kubeflow', '--output', str(tmp_path / output),
                   '--image', IMAGE, '--pipeline-root', PIPELINE_ROOT,
                   '--dataset', 'oxford_pets', '--data-dir', str(sample_dir), *FLAGS,
                   *extra]) == 0
  return tmp_path / output


@pytest.fixture(scope='module')
def compiled(tmp_path_factory, sample_dir):
  """The JSON spec, compiled with every attempt to open a network connection failing."""
  tmp_path = tmp_path_factory.mktemp('kfp')

  def no_network(*args, **kwargs):
    raise AssertionError(f'compiling tried to reach the network: {args}')

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(socket.socket, 'connect', no_network)
    patch.setattr(socket, 'create_connection', no_network)
    path = _compile(tmp_path, sample_dir, 'pipeline.json')
  with open(path) as f:
    job = json.load(f)
  return job, json_format.ParseDict(job['pipelineSpec'], pipeline_spec_pb2.PipelineSpec())


def _executors(spec):
  """The executors of the spec's deployment config (a Struct in PipelineSpec)."""
  return json_format.ParseDict(json_format.MessageToDict(spec.deployment_spec),
                               pipeline_spec_pb2.PipelineDeploymentConfig()).executors


def _task_node(task_name):
  """A spec task's node id: TFX compiles the resolver into one task per input."""
  return RESOLVER if task_name.startswith(RESOLVER) else task_name


def test_spec_has_every_local_component_with_the_same_wiring(compiled, sample_dir, tmp_path):
  _, spec = compiled
  dataset = config_lib.dataset_config('oxford_pets', str(sample_dir))
  local = local_runner.build(str(tmp_path), str(sample_dir), dataset,
                             training.TrainingConfig(), release.ReleaseConfig())
  tasks = spec.root.dag.tasks
  assert {_task_node(t) for t in tasks} == {c.id for c in local.components}
  for component in local.components:
    if component.id == RESOLVER:
      continue
    wired = {key: (_task_node(a.task_output_artifact.producer_task),
                   a.task_output_artifact.output_artifact_key)
             for key, a in tasks[component.id].inputs.artifacts.items()}
    assert wired == {key: (channel.producer_component_id, channel.output_key)
                     for key, channel in component.inputs.items()}, component.id
    upstream = {_task_node(t) for t in tasks[component.id].dependent_tasks}
    assert upstream == {node.id for node in component.upstream_nodes}, component.id


def test_push_is_conditional_on_the_blessing(compiled):
  _, spec = compiled
  condition = spec.root.dag.tasks['Pusher'].trigger_policy.condition
  assert "_Evaluator.blessing" in condition and "metadata['blessed'] == 1" in condition
  assert not spec.root.dag.tasks['Trainer'].trigger_policy.condition
  destination = json.loads(spec.root.dag.tasks['Pusher'].inputs.parameters[
      'push_destination'].runtime_value.constant.string_value)
  assert destination['filesystem']['base_directory'] == f'{PIPELINE_ROOT}/serving'


def test_every_step_runs_the_given_image_and_an_installed_executor(compiled):
  _, spec = compiled
  containers = {label: executor.container
                for label, executor in _executors(spec).items()
                if executor.HasField('container')}
  assert len(containers) == 9  # every component but the resolver's queries
  for label, container in containers.items():
    assert container.image == IMAGE, label
    assert list(container.command) == ENTRYPOINT, label
    class_path = container.args[list(container.args).index('--executor_class_path') + 1]
    module_name, class_name = class_path.rsplit('.', 1)
    module = importlib.import_module(module_name)
    assert hasattr(module, class_name), class_path
    if module_name.startswith('petseg.'):
      assert os.path.isfile(module.__file__)  # from the installed package, not a wheel
  assert not any('module_file' in t.inputs.parameters for t in spec.root.dag.tasks.values())


def test_runtime_parameters_default_to_the_flags_and_reach_their_steps(compiled):
  job, spec = compiled
  parameters = spec.root.input_definitions.parameters
  defaults = {name: json_format.MessageToDict(p.default_value) for name, p in
              parameters.items()}
  assert defaults == {'model_name': 'unet_mobilenetv2', 'epochs': 7, 'learning_rate': 0.003,
                      'min_mean_iou': 0.55}
  assert all(p.is_optional for p in parameters.values())
  assert job['runtimeConfig']['parameterValues']['epochs'] == 7
  trainer = spec.root.dag.tasks['Trainer'].inputs.parameters
  for name in ('model_name', 'epochs', 'learning_rate'):
    assert trainer[name].component_input_parameter == name
  evaluator = spec.root.dag.tasks['Evaluator'].inputs.parameters
  assert evaluator['min_mean_iou'].component_input_parameter == 'min_mean_iou'
  # What is not a parameter is fixed at compile time, e.g. the training image size.
  custom_config = json.loads(trainer['custom_config'].runtime_value.constant.string_value)
  assert custom_config['image_size'] == 64 and 'epochs' not in custom_config


def test_yaml_output_is_the_same_pipeline_spec(compiled, sample_dir, tmp_path):
  _, spec = compiled
  with open(_compile(tmp_path, sample_dir, 'pipeline.yaml')) as f:
    from_yaml = json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())
  assert from_yaml == spec


def _executor_input(parameters, examples_uri, output_file):
  """What the KFP launcher substitutes for {{$}}: inputs, output artifacts, output file."""
  return json.dumps({
      'inputs': {'parameterValues': parameters},
      'outputs': {'artifacts': {'examples': {'artifacts': [{
          'name': 'examples', 'type': {'schemaTitle': 'tfx.Examples'},
          'uri': examples_uri, 'metadata': {}}]}},
                  'outputFile': output_file}})


def _run_container(command, args, executor_input):
  command = [sys.executable if word == 'python' else word for word in command]
  args = [executor_input if arg == '{{$}}' else arg for arg in args]
  result = subprocess.run(command + args, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_compiled_example_gen_runs_through_tfx_container_entrypoint(compiled, tmp_path):
  """As the KFP launcher would: the driver (pre-cache check) resolves the input config and
  fingerprint, then the executor runs with the task's parameters."""
  _, spec = compiled
  task = spec.root.dag.tasks['ExampleGen']
  container = _executors(spec)[spec.components['ExampleGen'].executor_label].container
  parameters = {name: json_format.MessageToDict(p.runtime_value.constant)
                for name, p in task.inputs.parameters.items()}
  examples_uri = str(tmp_path / 'examples')

  driver = container.lifecycle.pre_cache_check
  _run_container(driver.command, driver.args, _executor_input(
      parameters, examples_uri, str(tmp_path / 'driver_output.json')))
  with open(tmp_path / 'driver_output.json') as f:
    parameters.update(json.load(f)['parameterValues'])
  _run_container(container.command, container.args, _executor_input(
      parameters, examples_uri, str(tmp_path / 'executor_output.json')))

  with open(tmp_path / 'executor_output.json') as f:
    artifact, = json.load(f)['artifacts']['examples']['artifacts']
  metadata = artifact['metadata']
  assert json.loads(metadata['split_names']) == ['train', 'eval', 'test']
  assert metadata['test_examples'] == 9 and metadata['train_examples'] + \
      metadata['eval_examples'] == 27
  assert metadata['ingest_report'] == os.path.join(examples_uri, 'ingest_report.json')
  for split in ('train', 'eval', 'test'):
    assert os.listdir(os.path.join(examples_uri, f'Split-{split}'))


def test_dockerfile_installs_this_checkout_with_legacy_keras():
  def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
      return f.read()

  dockerfile = read('kubeflow', 'Dockerfile')
  beam, = re.findall(r'^apache-beam==(\S+)$', read('constraints.txt'), re.M)
  # Python 3.10 and the pinned Beam, so the image is also a Beam worker container.
  assert f'FROM apache/beam_python3.10_sdk:{beam}' in dockerfile
  assert 'TF_USE_LEGACY_KERAS=1' in dockerfile
  assert 'pip install -c constraints.txt .' in dockerfile
  for directory in re.findall(r"'petseg(?:\.\w+)?': '(\w+)'", read('setup.py')):
    assert f'COPY {directory}/ {directory}/' in dockerfile, directory
