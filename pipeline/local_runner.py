"""Runs the pipeline on this machine: LocalDagRunner, Beam DirectRunner, SQLite ML Metadata."""
import datetime
import os
from typing import List, Optional, Sequence, Tuple

from tfx.dsl.compiler import compiler
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local import local_dag_runner
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from petseg.components.latest_release import component as latest_release
from petseg.core import storage
from petseg.pipeline import beam_args as beam_args_lib
from petseg.pipeline import metadata
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import run_config
from petseg.records import ingest_report
from petseg.registry import versions as release_registry

def metadata_path(output_dir: str) -> str:
  return os.path.join(output_dir, 'metadata.sqlite')


def default_serving_dir(output_dir: str) -> str:
  return os.path.join(output_dir, 'serving')


def _absolute(path: str) -> str:
  return storage.of(path).absolute(path)


def build(output_dir: str, data_dir: str, config: run_config.RunConfig,
          serving_dir: Optional[str] = None, beam_args: Sequence[str] = (),
          enable_cache: bool = True, pipeline_name: str = pipeline_lib.PIPELINE_NAME,
          pipeline_root: Optional[str] = None, retrain: bool = False,
          registry_check_only: bool = False) -> tfx_pipeline.Pipeline:
  """The pipeline with ML Metadata in `output_dir` (on this machine) and its artifacts
  under `pipeline_root` (default OUTPUT_DIR/pipeline_root); released models go to
  `serving_dir` (default OUTPUT_DIR/serving). Any of the data directory, the pipeline
  root and the serving directory may be in an object store (core/storage.py). `retrain`:
  train even when the data and settings are the served version's; `registry_check_only`:
  ingest and LatestRelease only (see run_unless_nothing_new)."""
  # Before anything is created: the metadata connection config makes OUTPUT_DIR.
  beam_args = beam_args_lib.checked(beam_args)
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
      registry_state=release_registry.state(serving_dir),
      retrain=int(retrain), registry_check_only=registry_check_only,
      skip_when_nothing_new=False)


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


def run_unless_nothing_new(output_dir: str, data_dir: str, config: run_config.RunConfig,
                           **build_args) -> Tuple[str, Optional[metadata.NothingNew]]:
  """Runs ingestion and LatestRelease; when the run has nothing new (latest.py), stops there
  and returns that run's id and why; otherwise runs the whole pipeline, whose first steps
  then come from the cache, and returns its id and None. `build_args` go to build(). With
  the cache off (every step runs, and so trains), the whole pipeline runs at once: the
  check would ingest a second time."""
  if not build_args.get('enable_cache', True):
    return run(build(output_dir, data_dir, config, **build_args), output_dir), None
  check = run(build(output_dir, data_dir, config, registry_check_only=True, **build_args),
              output_dir)
  store = metadata.connect(metadata_path(output_dir))
  pipeline_name = build_args.get('pipeline_name', pipeline_lib.PIPELINE_NAME)
  skipped = metadata.nothing_new(store, metadata.run_executions(store, pipeline_name, check))
  if skipped:
    return check, skipped
  return run(build(output_dir, data_dir, config, **build_args), output_dir), None


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
    state = node.parameters.parameters.get(latest_release.REGISTRY_STATE)
    if node.node_info.id in pipeline_lib.NEVER_CACHED and not (
        state and state.field_value.string_value):
      node.execution_options.caching_options.enable_cache = False
  return ir
