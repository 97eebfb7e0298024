"""The Kubeflow Pipelines v2 spec: compiled offline from the same create_pipeline(), with
the local pipeline's wiring, the image, the runtime parameters, and what each backend
refuses checked (the harness tests run it: test_kfp_pipeline.py)."""
import copy
import importlib
import json
import os
import re
import socket

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
import pytest
import yaml

from tfx import v1 as tfx

from petseg import cli
from petseg.components.example_gen import sources
from petseg.core import errors
from petseg.kubeflow import conformance
from petseg.kubeflow import entrypoint
from petseg.kubeflow import runner
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config
from tests import kfp_harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = 'registry.example/petseg:test'
PIPELINE_ROOT = 'gs://petseg-test/root'  # only written to the spec: compiling is offline
# Every step after the registry step runs only when the run has something new.
NOTHING_NEW_IS_FALSE = ("(inputs.artifacts['_LatestRelease.freshness'].artifacts[0]"
                        ".metadata['nothing_new'] == 0.0)")
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


def test_spec_has_every_local_component_with_the_same_wiring(compiled, sample_dir, tmp_path):
  _, spec = compiled
  dataset = sources.dataset_config('oxford_pets', str(sample_dir))
  local = local_runner.build(str(tmp_path), str(sample_dir),
                             run_config.RunConfig(dataset, training.TrainingConfig()))
  tasks = spec.root.dag.tasks
  assert set(tasks) == {c.id for c in local.components}
  for component in local.components:
    task = tasks[component.id]
    wired = {key: (a.task_output_artifact.producer_task,
                   a.task_output_artifact.output_artifact_key)
             for key, a in task.inputs.artifacts.items()}
    # Besides its own inputs, a task has the artifacts its trigger condition reads, as TFX
    # compiles a condition: the registry step's freshness, and the Pusher's blessing.
    read = set(conformance.condition_inputs(task.trigger_policy.condition))
    assert wired == {**{key: (channel.producer_component_id, channel.output_key)
                        for key, channel in component.inputs.items()},
                     **{key: wired[key] for key in read if key.startswith('_')}}, component.id
    assert all(key in wired for key in read), component.id
    if component.id not in ('ExampleGen', 'LatestRelease'):  # all the rest: nothing new?
      assert "_LatestRelease.freshness'].artifacts[0].metadata['nothing_new'] == 0.0" in (
          task.trigger_policy.condition), component.id
    upstream = set(tasks[component.id].dependent_tasks)
    assert upstream == {node.id for node in component.upstream_nodes} | {
        key[1:].split('.')[0] for key in read if key.startswith('_')}, component.id


def test_push_is_conditional_on_the_blessing_it_reads_as_an_input(compiled):
  _, spec = compiled
  condition = spec.root.dag.tasks['Pusher'].trigger_policy.condition
  assert condition == (NOTHING_NEW_IS_FALSE + " && (inputs.artifacts['model_blessing']"
                       ".artifacts[0].metadata['blessed'] == 1.0)")
  assert spec.root.dag.tasks['Pusher'].inputs.artifacts[
      'model_blessing'].task_output_artifact.producer_task == 'Evaluator'
  assert spec.root.dag.tasks['Trainer'].trigger_policy.condition == NOTHING_NEW_IS_FALSE
  destination = json.loads(spec.root.dag.tasks['Pusher'].inputs.parameters[
      'push_destination'].runtime_value.constant.string_value)
  assert destination['filesystem']['base_directory'] == f'{PIPELINE_ROOT}/serving'


def test_every_step_runs_the_given_image_and_an_installed_executor(compiled):
  _, spec = compiled
  containers = {label: executor.container
                for label, executor in _executors(spec).items()
                if executor.HasField('container')}
  assert len(containers) == len(spec.root.dag.tasks) == 11  # every step is a container
  for label, container in containers.items():
    assert container.image == IMAGE, label
    assert list(container.command) == runner.ENTRYPOINT, label
    # open-source KFP: artifacts through the launcher's local copies
    assert container.args[0] == entrypoint.LOCAL_COPIES_FLAG, label
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
                      'min_mean_iou': 0.55, 'retrain': 0}
  assert all(p.is_optional for p in parameters.values())
  assert job['runtimeConfig']['parameterValues']['epochs'] == 7
  trainer = spec.root.dag.tasks['Trainer'].inputs.parameters
  for name in ('model_name', 'epochs', 'learning_rate'):
    assert trainer[name].component_input_parameter == name
  evaluator = spec.root.dag.tasks['Evaluator'].inputs.parameters
  assert evaluator['min_mean_iou'].component_input_parameter == 'min_mean_iou'
  # What is not a parameter is fixed at compile time, e.g. the training image size.
  custom_config = json.loads(trainer['custom_config'].runtime_value.constant.string_value)
  assert custom_config['image_size'] == [64, 64] and 'epochs' not in custom_config


def test_yaml_output_is_the_same_pipeline_spec(compiled, sample_dir, tmp_path):
  _, spec = compiled
  with open(_compile(tmp_path, sample_dir, 'pipeline.yaml')) as f:
    from_yaml = json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())
  assert from_yaml == spec


def test_dockerfile_installs_this_checkout_with_legacy_keras():
  def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
      return f.read()

  dockerfile = read('kubeflow', 'Dockerfile')
  beam, = re.findall(r'^apache-beam==(\S+)$', read('constraints.txt'), re.M)
  # Python 3.10 and the pinned Beam, so the image is also a Beam worker container.
  assert f'FROM apache/beam_python3.10_sdk:{beam}' in dockerfile
  assert 'TF_USE_LEGACY_KERAS=1' in dockerfile
  assert 'pip install -c constraints.txt ".' in dockerfile
  for directory in re.findall(r"'petseg(?:\.\w+)?': '(\w+)'", read('setup.py')):
    assert f'COPY {directory}/ {directory}/' in dockerfile, directory


def test_the_registry_step_is_never_cached_nor_is_ingestion_on_open_source_kfp(
    compiled, sample_dir, tmp_path):
  """Open-source KFP does not run ExampleGen's pre-cache check (the fingerprint of the data
  files), so a cached ExampleGen there would not see changed data; Vertex AI runs it."""
  _, spec = compiled
  cached = {name: task.caching_options.enable_cache
            for name, task in spec.root.dag.tasks.items()}
  assert sorted(name for name, on in cached.items() if not on) == ['ExampleGen', 'LatestRelease']
  with open(_compile(tmp_path, sample_dir, 'vertex.json', '--target', 'vertex')) as f:
    vertex = json.load(f)['pipelineSpec']
  assert [name for name, task in vertex['root']['dag']['tasks'].items()
          if not task['cachingOptions'].get('enableCache')] == list(pipeline_lib.NEVER_CACHED)
  # Vertex AI: artifacts read and written where they are
  assert not any(entrypoint.LOCAL_COPIES_FLAG in executor['container']['args']
                 for executor in vertex['deploymentSpec']['executors'].values())


def _tfx_spec(sample_dir, tmp_path):
  """The spec as TFX 1.16 compiles the pipeline, before petseg adapts it."""
  dataset = sources.dataset_config('oxford_pets', str(sample_dir))
  pipeline = pipeline_lib.create_pipeline(
      'petseg', str(tmp_path / 'root'), str(sample_dir),
      run_config.RunConfig(dataset, training.TrainingConfig()), str(tmp_path / 'serving'))
  return tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=IMAGE, use_pipeline_spec_2_1=True),
  ).run(pipeline, write_out=False)['pipelineSpec']


def test_tfx_compiles_the_push_condition_on_an_input_the_task_lacks(sample_dir, tmp_path):
  """Both backends evaluate a condition against the task's own inputs, so TFX's spec fails
  at the Pusher: reproduced with a real CEL evaluation, then fixed by adapt()."""
  spec = _tfx_spec(sample_dir, tmp_path)
  pusher = spec['root']['dag']['tasks']['Pusher']
  assert "inputs.artifacts['_Evaluator.blessing']" in pusher['triggerPolicy']['condition']
  assert [p for p in conformance.problems(spec, 'vertex') if 'condition' in p] == [
      "task Pusher: its trigger condition reads inputs it does not have: "
      "['_Evaluator.blessing']"]
  blessing = {'artifacts': [{'metadata': {'blessed': 1.0}}]}
  fresh = {'artifacts': [{'metadata': {'nothing_new': 0.0}}]}
  backend = kfp_harness.Backend('kfp', str(tmp_path), s3=None, s3_env={})
  with pytest.raises(kfp_harness.TaskFailed, match='Pusher: its trigger condition'):
    backend._condition('Pusher', pusher['triggerPolicy']['condition'],  # pylint: disable=protected-access
                       {'inputs': {'parameterValues': {}, 'artifacts': {
                           'model_blessing': blessing, '_LatestRelease.freshness': fresh}}})
  adapted = runner.adapt(spec, 'kfp')
  assert conformance.problems(adapted, 'kfp') == []
  condition = adapted['root']['dag']['tasks']['Pusher']['triggerPolicy']['condition']
  for blessed in (1.0, 0.0):
    for nothing_new in (0.0, 1.0):
      assert backend._condition('Pusher', condition, {'inputs': {  # pylint: disable=protected-access
          'parameterValues': {}, 'artifacts': {
              'model_blessing': {'artifacts': [{'metadata': {'blessed': blessed}}]},
              '_LatestRelease.freshness': {'artifacts': [{'metadata': {
                  'nothing_new': nothing_new}}]}}}}) == (blessed == 1.0 and not nothing_new)


def _with_executor(spec, task_name, executor):
  spec = copy.deepcopy(spec)
  label = spec['components'][spec['root']['dag']['tasks'][task_name]['componentRef']['name']][
      'executorLabel']
  spec['deploymentSpec']['executors'][label] = executor
  return spec


def test_conformance_refuses_what_open_source_kfp_refuses_naming_the_task(compiled):
  job, _ = compiled
  spec = job['pipelineSpec']
  assert conformance.problems(spec, 'kfp') == []
  resolver = _with_executor(spec, 'LatestRelease', {'resolver': {'outputArtifactQueries': {}}})
  custom_job = _with_executor(spec, 'Trainer', {'customJob': {'customJob': {}}})
  conditional_importer = _with_executor(spec, 'Pusher', {'importer': {'artifactUri': {}}})
  cached_check = copy.deepcopy(spec)
  cached_check['root']['dag']['tasks']['ExampleGen']['cachingOptions']['enableCache'] = True
  for broken, task, said in [(resolver, 'LatestRelease', 'resolver executors'),
                             (custom_job, 'Trainer', 'Google Cloud only'),
                             (conditional_importer, 'Pusher', 'importer task'),
                             (cached_check, 'ExampleGen', 'pre-cache check')]:
    problem, = conformance.problems(broken, 'kfp')
    assert problem.startswith(f'task {task}: ') and said in problem
    with pytest.raises(errors.ConfigError, match=f'cannot run on kfp: task {task}'):
      conformance.check(broken, 'kfp')
  # Vertex AI runs resolvers, custom jobs and pre-cache checks.
  for runs_on_vertex in (resolver, custom_job, cached_check):
    assert conformance.problems(runs_on_vertex, 'vertex') == []


def test_dataflow_needs_the_vertex_target(sample_dir, tmp_path, capsys):
  dataflow = ['--', '--runner=DataflowRunner', '--project=p', '--region=r',
              '--temp_location=gs://b/tmp', f'--sdk_container_image={IMAGE}']
  assert cli.main(['compile', '--engine', 'kubeflow', '--output', str(tmp_path / 'p.json'),
                   '--image', IMAGE, '--pipeline-root', PIPELINE_ROOT, '--dataset',
                   'oxford_pets', '--data-dir', str(sample_dir), *dataflow]) == 1
  error = capsys.readouterr().err
  assert error.startswith('petseg: error: the pipeline cannot run on kfp: task ')
  assert 'Beam runner DataflowRunner' in error and '--target vertex' in error
  assert not (tmp_path / 'p.json').exists()
  _compile(tmp_path, sample_dir, 'p.json', '--target', 'vertex', *dataflow)


def test_compile_refuses_an_unknown_target(sample_dir, tmp_path, capsys):
  with pytest.raises(SystemExit):
    _compile(tmp_path, sample_dir, 'p.json', '--target', 'argo')
  assert "invalid choice: 'argo'" in capsys.readouterr().err


def test_every_step_asks_for_resources_where_each_backend_reads_them(compiled, sample_dir,
                                                                     tmp_path):
  job, _ = compiled
  spec = job['pipelineSpec']
  resources = {name: conformance.executor_of(spec, task)['container']['resources']
               for name, task in spec['root']['dag']['tasks'].items()}
  assert resources['Trainer'] == {'cpuLimit': 4, 'cpuRequest': 4, 'memoryLimit': 16,
                                  'memoryRequest': 16}
  assert resources['Transform']['memoryLimit'] == 8 and resources['Pusher']['cpuLimit'] == 1
  path = _compile(tmp_path, sample_dir, 'gpu.json', '--trainer-gpus', '2', '--trainer-cpu',
                  '8', '--trainer-memory', '32Gi')
  with open(path) as f:
    gpu = json.load(f)['pipelineSpec']
  trainer = conformance.executor_of(gpu, gpu['root']['dag']['tasks']['Trainer'])
  assert trainer['container']['resources'] == {
      'cpuLimit': 8, 'cpuRequest': 8, 'memoryLimit': pytest.approx(34.359738368),
      'memoryRequest': pytest.approx(34.359738368),
      'accelerator': {'count': '2', 'type': 'nvidia.com/gpu'}}
  with open(_compile(tmp_path, sample_dir, 'v.json', '--target', 'vertex',
                     '--trainer-gpus', '1')) as f:
    vertex = json.load(f)['pipelineSpec']
  trainer = conformance.executor_of(vertex, vertex['root']['dag']['tasks']['Trainer'])
  assert trainer['container']['resources']['accelerator'] == {'count': '1',
                                                              'type': 'NVIDIA_TESLA_T4'}
  assert 'cpuRequest' not in trainer['container']['resources']
  # The conformance step refuses a step without resources, or a GPU named for the
  # other backend.
  bare = copy.deepcopy(spec)
  del conformance.executor_of(bare, bare['root']['dag']['tasks']['Trainer'])['container'][
      'resources']
  assert conformance.problems(bare, 'kfp') == ['task Trainer: resources: no cpuLimit',
                                               'task Trainer: resources: no memoryLimit']
  assert "task Trainer: resources: accelerator type 'NVIDIA_TESLA_T4' is not one kfp " \
      'reads' in conformance.problems(vertex, 'kfp')
  with pytest.raises(SystemExit):
    _compile(tmp_path, sample_dir, 'x.json', '--trainer-memory', 'lots')


def test_the_steps_that_must_run_every_time_carry_the_runs_id(compiled):
  """Whatever the submission says about caching, their cache key changes with each run."""
  job, _ = compiled
  spec = job['pipelineSpec']
  for name in ('LatestRelease', 'ExampleGen'):
    task = spec['root']['dag']['tasks'][name]
    assert task['inputs']['parameters'][runner.RUN_ID_INPUT] == {
        'runtimeValue': {'constant': pipeline_lib.PIPELINE_RUN_PLACEHOLDER}}
    assert runner.RUN_ID_INPUT in spec['components'][task['componentRef']['name']][
        'inputDefinitions']['parameters']
  # The entrypoint drops it before TFX reads the inputs.
  fixed, _ = entrypoint.normalise({'inputs': {'parameterValues': {
      runner.RUN_ID_INPUT: 'run-1', 'serving_dir': '/s'}}}, {})
  assert fixed['inputs']['parameterValues'] == {'serving_dir': '/s'}


def test_object_store_access_comes_from_the_endpoint_and_the_secret(sample_dir, tmp_path):
  path = _compile(tmp_path, sample_dir, 'minio.yaml', '--serving-dir',
                  'minio://mlpipeline/serving')
  spec, platform = kfp_harness.load(str(path))
  for executor in spec['deploymentSpec']['executors'].values():
    assert executor['container']['env'] == [
        {'name': 'AWS_ENDPOINT_URL', 'value': runner.Cluster().store_endpoint},
        {'name': 'AWS_REGION', 'value': 'us-east-1'}]
  executors = platform['platforms']['kubernetes']['deploymentSpec']['executors']
  assert set(executors) == set(spec['deploymentSpec']['executors'])
  assert {e['secretAsEnv'][0]['secretName'] for e in executors.values()} == {
      runner.MINIO_SECRET}
  # The steps open the registry as s3://; the launcher keeps its minio:// root.
  assert spec['root']['dag']['tasks']['LatestRelease']['inputs']['parameters'][
      'serving_dir'] == {'runtimeValue': {'constant': 's3://mlpipeline/serving'}}
  with pytest.raises(errors.ConfigError, match='only a .yaml spec can say'):
    runner.compile_pipeline(str(tmp_path / 'm.json'), IMAGE, 'minio://mlpipeline/v2',
                            str(sample_dir), run_config.RunConfig(
                                sources.dataset_config('oxford_pets', str(sample_dir)),
                                training.TrainingConfig()))
  # A local or gs:// run needs neither.
  assert 'env' not in conformance.executor_of(
      *_first_task(_compile(tmp_path, sample_dir, 'gs.yaml')))['container']


def _first_task(path):
  spec, platform = kfp_harness.load(str(path))
  assert platform == {}
  return spec, next(iter(spec['root']['dag']['tasks'].values()))


@pytest.mark.parametrize('version, endpoint', [('2.5', 'http://minio-service.kubeflow:9000'),
                                               ('2.15', 'http://minio-service.kubeflow:9000'),
                                               ('2.16', 'http://seaweedfs.kubeflow:9000'),
                                               ('2.17', 'http://seaweedfs.kubeflow:9000')])
def test_the_store_is_the_one_the_kfp_version_installs(sample_dir, tmp_path, version, endpoint):
  spec, _ = kfp_harness.load(str(_compile(tmp_path, sample_dir, 'v.yaml', '--kfp-version',
                                          version, '--serving-dir', 'minio://mlpipeline/s')))
  for executor in spec['deploymentSpec']['executors'].values():
    assert {'name': 'AWS_ENDPOINT_URL', 'value': endpoint} in executor['container']['env']
  assert spec['pipelineInfo']['description'] == (
      f'petseg, compiled for open-source Kubeflow Pipelines {version}; object store {endpoint}')


def test_the_newest_supported_version_is_the_default_and_the_endpoint_flag_overrides(
    sample_dir, tmp_path):
  assert runner.Cluster().version == '2.17' == runner.DEFAULT_KFP_VERSION
  assert runner.SUPPORTED_BACKENDS[1].startswith(runner.DEFAULT_KFP_VERSION + '.')
  spec, _ = kfp_harness.load(str(_compile(
      tmp_path, sample_dir, 'o.yaml', '--serving-dir', 'minio://mlpipeline/s',
      '--s3-endpoint', 'http://store.example:9000')))
  assert {e['container']['env'][0]['value'] for e in spec['deploymentSpec']['executors'].values()
          } == {'http://store.example:9000'}
  for version in ('2.4', '2.18', '3.0', 'latest'):
    with pytest.raises(errors.ConfigError, match=f'--kfp-version {version}: supported are'):
      runner.Cluster(version)


def test_the_spec_carries_its_pipeline_root(compiled, sample_dir, tmp_path):
  job, spec = compiled
  assert spec.default_pipeline_root == PIPELINE_ROOT == job['pipelineSpec']['defaultPipelineRoot']
  # Without --pipeline-root: the launcher's default on open-source KFP; Vertex AI needs one.
  path = tmp_path / 'd.yaml'
  assert cli.main(['compile', '--engine', 'kubeflow', '--output', str(path), '--image', IMAGE,
                   '--dataset', 'oxford_pets', '--data-dir', str(sample_dir), *FLAGS]) == 0
  assert kfp_harness.load(str(path))[0]['defaultPipelineRoot'] == (
      'minio://mlpipeline/v2/artifacts')
  with pytest.raises(errors.ConfigError, match='--pipeline-root: required for --target vertex'):
    runner.compile_pipeline(str(tmp_path / 'v.json'), IMAGE, None, str(sample_dir),
                            run_config.RunConfig(
                                sources.dataset_config('oxford_pets', str(sample_dir)),
                                training.TrainingConfig()), target='vertex')


def test_a_profile_namespace_gives_defaults_its_keys_may_write(tmp_path, capsys):
  path = tmp_path / 'ns.yaml'
  assert cli.main(['compile', '--engine', 'kubeflow', '--output', str(path), '--image', IMAGE,
                   '--dataset', 'oxford_pets', '--namespace', 'team-a', *FLAGS]) == 0
  spec, platform = kfp_harness.load(str(path))
  assert spec['defaultPipelineRoot'] == 'minio://mlpipeline/private-artifacts/team-a/v2/artifacts'
  parameters = spec['root']['dag']['tasks']['LatestRelease']['inputs']['parameters']
  assert parameters['serving_dir'] == {
      'runtimeValue': {'constant': 's3://mlpipeline/private/team-a/serving/petseg'}}
  assert json.dumps(spec).count('s3://mlpipeline/private/team-a/data/oxford_pets') >= 1
  assert platform['platforms']['kubernetes']['deploymentSpec']['executors']
  assert 'profile namespace team-a' in spec['pipelineInfo']['description']
  # Before 2.15 a profile had no prefix of its own: the launcher's root is the shared one.
  assert runner.Cluster('2.14', 'team-a').pipeline_root == 'minio://mlpipeline/v2/artifacts'
  problems = runner.Cluster('2.17', 'team-a').path_problems({
      '--serving-dir': 'minio://mlpipeline/serving/petseg',
      '--data-dir': 'minio://mlpipeline/private/team-b/data',
      '--pipeline-root': 'minio://mlpipeline/private-artifacts/team-a/v2/artifacts',
      '--other': 's3://elsewhere/x'})
  assert [p.split(':')[0] for p in problems] == ['--serving-dir minio', '--data-dir minio']
  assert runner.Cluster('2.14', 'team-a').path_problems(
      {'--serving-dir': 'minio://mlpipeline/serving'}) == []
  for bad, said in ((['--namespace', 'Team_A'], 'not a Kubernetes namespace'),
                    (['--target', 'vertex', '--namespace', 'team-a'], 'go with --target kfp'),
                    (['--serving-dir', 'minio://mlpipeline/serving'], 'may only write')):
    assert cli.main(['compile', '--engine', 'kubeflow', '--output', str(tmp_path / 'x.json'),
                     '--image', IMAGE, '--dataset', 'oxford_pets', '--pipeline-root',
                     PIPELINE_ROOT, '--namespace', 'team-a', *bad, *FLAGS]) == 1
    assert said in capsys.readouterr().err


def test_a_gpu_trainer_runs_in_the_gpu_image(sample_dir, tmp_path):
  spec, _ = kfp_harness.load(str(_compile(tmp_path, sample_dir, 'g.yaml', '--trainer-gpus', '1')))
  images = {name: conformance.executor_of(spec, task)['container']['image']
            for name, task in spec['root']['dag']['tasks'].items()
            if 'container' in conformance.executor_of(spec, task)}
  assert images.pop(runner.TRAINER) == f'{IMAGE}-gpu'
  assert set(images.values()) == {IMAGE}
  spec, _ = kfp_harness.load(str(_compile(tmp_path, sample_dir, 'h.yaml', '--trainer-gpus', '1',
                                          '--gpu-image', 'other/petseg-cuda:7')))
  assert conformance.executor_of(spec, spec['root']['dag']['tasks'][runner.TRAINER])[
      'container']['image'] == 'other/petseg-cuda:7'
  assert runner.gpu_image_of('reg.example:5000/petseg') == 'reg.example:5000/petseg:latest-gpu'
  with pytest.raises(errors.ConfigError, match='give --gpu-image'):
    runner.gpu_image_of('reg/petseg@sha256:abc')
  # The Dockerfile's GPU build installs setup.py's extra: TensorFlow with CUDA, pinned.
  with open(os.path.join(ROOT, 'setup.py')) as f:
    assert "'gpu': ['tensorflow[and-cuda]']" in f.read()
  with open(os.path.join(ROOT, 'kubeflow', 'Dockerfile')) as f:
    assert 'pip install -c constraints.txt ".${EXTRAS:+[$EXTRAS]}"' in f.read()
