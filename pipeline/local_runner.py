"""Runs the pipeline on this machine: LocalDagRunner, Beam DirectRunner, SQLite ML Metadata."""
import contextlib
import datetime
import io
import os
from typing import Any, Dict, List, Optional, Sequence

from apache_beam.options import pipeline_options
from tfx.dsl.compiler import compiler
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local import local_dag_runner
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from petseg.components import ingest_report
from petseg.components import release_registry
from petseg.core import errors
from petseg.core import storage
from petseg.pipeline import metadata
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config

# On 2 cores, in-memory beats the multi-process and multi-thread modes (measured: ExampleGen
# at 2,400 images 25-28 s, against 32-34 s and 28-32 s).
DEFAULT_BEAM_ARGS = ('--runner=DirectRunner', '--direct_running_mode=in_memory',
                     '--direct_num_workers=1')
# The Beam options by which the workers get petseg's code (TFX's dependency_utils looks for
# the same ones). Without any, each Beam step would package TFX's own sources for its
# workers (1.7 s a step, measured), a package that lacks petseg's code anyway.
_CODE_OPTIONS = ('sdk_container_image', 'worker_harness_container_image', 'setup_file',
                 'extra_packages', 'requirements_file')
# Workers that run in this process or as processes beside it, in this same Python: they
# have petseg already. Naming an image for them tells TFX so; they never pull it.
_SAME_PYTHON_IMAGE = 'unused:workers-share-this-python'


def metadata_path(output_dir: str) -> str:
  return os.path.join(output_dir, 'metadata.sqlite')


def default_serving_dir(output_dir: str) -> str:
  return os.path.join(output_dir, 'serving')


def _worker_image(options: Dict[str, Any]) -> Optional[str]:
  """The container image of the runner's workers: _SAME_PYTHON_IMAGE for the DirectRunner
  and for a portable runner whose environment is not a container (LOOPBACK, PROCESS,
  EXTERNAL, a subprocess); a portable runner's DOCKER environment_config; else None."""
  runner = str(options.get('runner') or 'DirectRunner').lower()
  if 'direct' in runner:
    return _SAME_PYTHON_IMAGE
  if 'dataflow' in runner:
    return None
  if 'docker' not in str(options.get('environment_type') or 'DOCKER').lower():
    return _SAME_PYTHON_IMAGE
  return options.get('environment_config')


def checked_beam_args(user_args: Sequence[str]) -> List[str]:
  """The defaults, overridden by the user's (later arguments win), checked up front: Beam
  rejects a malformed option by exiting from inside a component, and drops an unknown
  one (a typo) with a warning only. The workers' image is made explicit (TFX then packages
  nothing), and a runner whose containers would lack petseg's code is refused."""
  args = [*DEFAULT_BEAM_ARGS, *user_args]
  parsers, message = [], io.StringIO()
  try:
    with contextlib.redirect_stderr(message):  # argparse's usage and error
      options = pipeline_options.PipelineOptions(args).get_all_options(
          add_extra_args_fn=parsers.append)
  except SystemExit:
    reason = (message.getvalue().strip().splitlines() or ['no reason given'])[-1]
    raise errors.ConfigError(
        f'Beam rejected the arguments {" ".join(user_args)}: {reason}') from None
  _, unknown = parsers[0].parse_known_args(args)
  if unknown:
    raise errors.ConfigError(f'Beam does not know the arguments {" ".join(unknown)} (after '
                             '"--"); check their spelling against Beam\'s pipeline options')
  if any(options.get(option) for option in _CODE_OPTIONS):
    return args
  image = _worker_image(options)
  if not image:
    raise errors.ConfigError(
        f'Beam\'s {options["runner"]} runs its workers in containers, which need petseg\'s '
        'code: pass --sdk_container_image=REGISTRY/petseg:TAG (kubeflow/Dockerfile) after '
        '"--"')
  return [*args, f'--sdk_container_image={image}']


def _absolute(path: str) -> str:
  return path if storage.is_remote(path) else os.path.abspath(path)


def build(output_dir: str, data_dir: str, config: run_config.RunConfig,
          serving_dir: Optional[str] = None, beam_args: Sequence[str] = (),
          enable_cache: bool = True, pipeline_name: str = pipeline_lib.PIPELINE_NAME,
          pipeline_root: Optional[str] = None) -> tfx_pipeline.Pipeline:
  """The pipeline with ML Metadata in `output_dir` (on this machine) and its artifacts
  under `pipeline_root` (default OUTPUT_DIR/pipeline_root); released models go to
  `serving_dir` (default OUTPUT_DIR/serving). Any of the data directory, the pipeline
  root and the serving directory may be in an object store (core/storage.py)."""
  # Before anything is created: the metadata connection config makes OUTPUT_DIR.
  beam_args = checked_beam_args(beam_args)
  serving_dir = _absolute(storage.openable(serving_dir or default_serving_dir(output_dir)))
  root = _absolute(storage.openable(pipeline_root or default_pipeline_root(output_dir)))
  return pipeline_lib.create_pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=root,
      data_dir=_absolute(storage.openable(data_dir)),
      config=config,
      serving_dir=serving_dir,
      metadata_connection_config=tfx_metadata
      .sqlite_metadata_connection_config(metadata_path(output_dir)),
      beam_pipeline_args=beam_args,
      enable_cache=enable_cache,
      resume_dir=f'{root.rstrip("/")}/Trainer/.resume',
      registry_state=release_registry.state(serving_dir))


def default_pipeline_root(output_dir: str) -> str:
  return os.path.join(output_dir, 'pipeline_root')


def run(pipeline: tfx_pipeline.Pipeline, output_dir: str) -> str:
  """Runs a pipeline made by build(output_dir, ...) and waits for it; returns the run's id
  (the name of its pipeline_run context in ML Metadata)."""
  os.makedirs(output_dir, exist_ok=True)
  run_id = datetime.datetime.now().isoformat()
  ir = compile_ir(pipeline)
  # The local runner would name the run itself; named here, the run can be found again.
  runtime_parameter_utils.substitute_runtime_parameter(
      ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
  try:
    local_dag_runner.LocalDagRunner().run_with_ir(ir)
  except ingest_report.IngestError as e:
    # The failed step's artifact, which held the report, is discarded: keep it here.
    e.report_path = os.path.join(output_dir, ingest_report.FILE_NAME)
    ingest_report.write(e.report, e.report_path)
    raise
  return run_id


def tidy_interrupted(output_dir: str, pipeline_name: str,
                     pipeline_root: Optional[str] = None) -> List[str]:
  """Cleans up after a run that was killed in `output_dir` (metadata.abandon_interrupted),
  whose artifacts are under `pipeline_root` (default OUTPUT_DIR/pipeline_root); only while
  holding its lock (run_lock). Returns the directories removed."""
  if not os.path.exists(metadata_path(output_dir)):
    return []
  store = metadata.connect(metadata_path(output_dir), readonly=False)
  root = storage.openable(pipeline_root or default_pipeline_root(output_dir))
  return metadata.abandon_interrupted(store, pipeline_name, _absolute(root))


def compile_ir(pipeline: tfx_pipeline.Pipeline) -> pipeline_pb2.Pipeline:
  """The pipeline's IR, with the nodes of pipeline_lib.NEVER_CACHED never cached unless
  they were given the registry's state (build() gives it)."""
  ir = compiler.Compiler().compile(pipeline)
  for node in ir.nodes:
    node = node.pipeline_node
    state = node.parameters.parameters.get(release_registry.REGISTRY_STATE)
    if node.node_info.id in pipeline_lib.NEVER_CACHED and not (
        state and state.field_value.string_value):
      node.execution_options.caching_options.enable_cache = False
  return ir
