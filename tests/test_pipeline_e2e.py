"""The real pipeline (LocalDagRunner, Beam, SQLite ML Metadata) on a few dozen generated pets."""
import re
import shutil

from ml_metadata.proto import metadata_store_pb2
import pytest
from tfx.utils import dependency_utils

from petseg import cli
from petseg.components.example_gen import sources
from petseg.components.latest_release import component as latest_component
from petseg.components.validation_gate import executor as validation_gate
from petseg.models import training
from petseg.pipeline import beam_args
from petseg.pipeline import local_runner
from petseg.pipeline import metadata
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config
from tests.helpers import count_records

# One epoch at 32 pixels cannot reach the release gate: Pusher is skipped.
NODES = ['ExampleGen', 'CuratedSchema', 'StatisticsGen', 'ExampleValidator',
         'ValidationGate', 'Transform', 'Trainer', 'LatestRelease', 'Evaluator',
         'ReleaseRecord']
# Training is tested in test_training_e2e; here one short epoch keeps the run quick.
QUICK_TRAINING = training.TrainingConfig(epochs=1, image_size=32, batch_size=4)
CHECKED = ('ExampleGen', 'LatestRelease')  # local_runner.run_unless_nothing_new
COMPLETE = metadata_store_pb2.Execution.COMPLETE
CACHED = metadata_store_pb2.Execution.CACHED


def _states(output_dir, pipeline_name='petseg'):
  store = metadata.connect(local_runner.metadata_path(str(output_dir)))
  return {node: e.last_known_state
          for node, e in metadata.run_executions(store, pipeline_name).items()}


def _examples(output_dir):
  store = metadata.connect(local_runner.metadata_path(str(output_dir)))
  execution = metadata.latest_executions(store, 'petseg')['ExampleGen']
  examples, = metadata.output_artifacts(store, execution.id, 'examples')
  return examples


@pytest.mark.slow
def test_pipeline_ingests_validates_and_caches(quick_run):
  # Ingestion and LatestRelease ran in the check just before (nothing released yet: go on),
  # and came from its cache in the run.
  assert quick_run.states[0] == {node: CACHED if node in CHECKED else COMPLETE
                                 for node in NODES}
  examples = _examples(quick_run.out)
  counts = {split: count_records(examples.uri, split) for split in ('train', 'eval', 'test')}
  assert counts['test'] == 9 and counts['train'] + counts['eval'] == 27
  for split, n in counts.items():
    assert examples.custom_properties[f'{split}_examples'].int_value == n
  printed = quick_run.printed[0]
  assert 'test 9 (+0 rejected)' in printed and 'ingest_report.json' in printed
  for node in NODES:  # each step on a line of its own, with how it went
    assert re.search(rf'^  {node} +ran +\d+\.\d s$', printed, re.M), node
  assert 'WARNING' not in printed and 'tensorflow' not in printed.lower()
  assert (quick_run.out / 'petseg.log').stat().st_size > 0

  # Unchanged inputs, configuration and release registry: every step comes from the cache.
  assert quick_run.states[1] == {node: CACHED for node in NODES}


@pytest.mark.slow
def test_latest_release_is_cached_only_while_the_registry_is_unchanged(tmp_path, sample_dir):
  config = run_config.RunConfig(sources.dataset_config('oxford_pets', str(sample_dir)),
                                QUICK_TRAINING)
  serving = tmp_path / 'serving'

  def latest_release(pipeline):
    """LatestRelease's node in the IR the local runner compiles."""
    node, = [n.pipeline_node for n in local_runner.compile_ir(pipeline).nodes
             if n.pipeline_node.node_info.id == latest_component.NODE_ID]
    return node

  def caching():
    node = latest_release(local_runner.build(str(tmp_path), str(sample_dir), config,
                                             serving_dir=str(serving)))
    return (node.parameters.parameters[latest_component.REGISTRY_STATE].field_value
            .string_value, node.execution_options.caching_options.enable_cache)

  assert caching() == ('none', True)
  (serving / '1' / 'assets.extra').mkdir(parents=True)
  (serving / '1' / 'saved_model.pb').write_bytes(b'graph')
  (serving / '1' / 'assets.extra' / 'release.json').write_text('{"version": 1}')
  first = caching()
  assert first[0].startswith('1:') and first[1]
  assert caching() == first  # the same release: the same cache key
  (serving / '1' / 'assets.extra' / 'release.json').write_text('{"version": 1, "x": 2}')
  assert caching() != first
  # A pipeline made without the registry's state (as for Kubeflow) never caches the step.
  bare = pipeline_lib.create_pipeline(
      'petseg', str(tmp_path / 'root'), str(sample_dir), config, str(serving))
  assert not latest_release(bare).execution_options.caching_options.enable_cache


@pytest.mark.slow
def test_schema_anomalies_fail_the_run(tmp_path, sample_dir):
  """A breed outside the curated schema's domain reaches ExampleValidator and stops the run."""
  data = tmp_path / 'data'
  shutil.copytree(sample_dir, data)
  for folder, ext in (('images', 'jpg'), ('annotations/trimaps', 'png')):
    (data / folder / f'Abyssinian_1.{ext}').rename(data / folder / f'Unicorn_1.{ext}')
  for list_file in ('trainval.txt', 'test.txt'):
    path = data / 'annotations' / list_file
    path.write_text(path.read_text().replace('Abyssinian_1 ', 'Unicorn_1 '))
  config = run_config.RunConfig(sources.dataset_config('oxford_pets', str(data)),
                                QUICK_TRAINING)
  with pytest.raises(validation_gate.DataValidationError, match="feature 'breed'"):
    out = str(tmp_path / 'out')
    local_runner.run(local_runner.build(out, str(data), config), out)
  states = _states(tmp_path / 'out')
  assert states['ExampleValidator'] == COMPLETE
  assert states['ValidationGate'] == metadata_store_pb2.Execution.FAILED
  assert 'Transform' not in states  # nothing downstream of the gate ran


def test_beam_arguments_reach_the_pipeline(tmp_path, sample_dir):
  config = run_config.RunConfig(sources.dataset_config('oxford_pets', str(sample_dir)),
                                QUICK_TRAINING)
  pipeline = local_runner.build(str(tmp_path), str(sample_dir), config,
                                beam_args=['--direct_num_workers=2'])
  args = pipeline.beam_pipeline_args
  assert args.index('--direct_num_workers=2') > args.index('--direct_num_workers=1')  # wins
  assert '--direct_running_mode=in_memory' in args


@pytest.mark.parametrize('user_args, image', [
    ([], 'unused:workers-share-this-python'),
    (['--runner=PortableRunner', '--job_endpoint=localhost:1', '--environment_type=LOOPBACK'],
     'unused:workers-share-this-python'),
    (['--runner=PortableRunner', '--job_endpoint=localhost:1', '--environment_type=DOCKER',
      '--environment_config=registry/petseg:1'], 'registry/petseg:1'),
])
def test_tfx_packages_nothing_for_workers_that_have_petseg(user_args, image):
  args = beam_args.checked(user_args)
  assert args[-1] == f'--sdk_container_image={image}'
  # TFX's own check: without a worker image it would build and stage a package of itself.
  assert dependency_utils.make_beam_dependency_flags(args) == args


def test_a_worker_image_given_is_kept():
  user_args = ['--runner=DataflowRunner', '--project=p', '--region=r',
               '--sdk_container_image=registry/petseg:1']
  assert beam_args.checked(user_args)[-len(user_args):] == user_args


def test_bad_beam_arguments_stop_before_the_run(tmp_path, sample_dir, capsys):
  code = cli.main(['run', '--dataset', 'oxford_pets', '--data-dir', str(sample_dir),
                   '--output-dir', str(tmp_path / 'out'), '--', '--direct_running_mode=bogus'])
  assert code == 1
  error = capsys.readouterr().err
  assert "invalid choice: 'bogus'" in error
  assert 'petseg: error: Beam rejected the arguments' in error
  assert not (tmp_path / 'out').exists()
