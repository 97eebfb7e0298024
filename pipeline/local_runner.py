"""Runs the pipeline on this machine: LocalDagRunner, Beam DirectRunner, SQLite ML Metadata."""
import os
from typing import List, Optional, Sequence

from apache_beam.options import pipeline_options
from tfx import v1 as tfx
from tfx.dsl.compiler import compiler
from tfx.proto.orchestration import pipeline_pb2

from petseg import config as config_lib
from petseg import errors
from petseg.models import training
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import release

# On 2 cores, in-memory beats multi-processing (measured: workers cost more than they win).
DEFAULT_BEAM_ARGS = ('--runner=DirectRunner', '--direct_running_mode=in_memory',
                     '--direct_num_workers=1')


def metadata_path(output_dir: str) -> str:
  return os.path.join(output_dir, 'metadata.sqlite')


def default_serving_dir(output_dir: str) -> str:
  return os.path.join(output_dir, 'serving')


def checked_beam_args(user_args: Sequence[str]) -> List[str]:
  """The defaults, overridden by the user's (later arguments win), checked up front: Beam
  rejects a bad option by exiting from inside a component."""
  args = [*DEFAULT_BEAM_ARGS, *user_args]
  try:
    pipeline_options.PipelineOptions(args).get_all_options()
  except SystemExit:
    raise errors.ConfigError(
        f'Beam rejected the arguments {" ".join(user_args)} (its message is above)') from None
  return args


def build(output_dir: str, data_dir: str, dataset: config_lib.DatasetConfig,
          training_config: training.TrainingConfig,
          release_config: release.ReleaseConfig = release.ReleaseConfig(),
          serving_dir: Optional[str] = None, beam_args: Sequence[str] = (),
          enable_cache: bool = True,
          pipeline_name: str = pipeline_lib.PIPELINE_NAME) -> tfx.dsl.Pipeline:
  """The pipeline with ML Metadata and every artifact under `output_dir`; released models
  go to `serving_dir` (default OUTPUT_DIR/serving)."""
  # Before anything is created: the metadata connection config makes OUTPUT_DIR.
  beam_args = checked_beam_args(beam_args)
  return pipeline_lib.create_pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=os.path.join(output_dir, 'pipeline_root'),
      data_dir=os.path.abspath(data_dir) if '://' not in data_dir else data_dir,
      dataset=dataset,
      training_config=training_config,
      release_config=release_config,
      serving_dir=os.path.abspath(serving_dir or default_serving_dir(output_dir)),
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(metadata_path(output_dir)),
      beam_pipeline_args=beam_args,
      enable_cache=enable_cache)


def run(output_dir: str, data_dir: str, dataset: config_lib.DatasetConfig,
        training_config: training.TrainingConfig,
        release_config: release.ReleaseConfig = release.ReleaseConfig(),
        serving_dir: Optional[str] = None, beam_args: Sequence[str] = (),
        enable_cache: bool = True, pipeline_name: str = pipeline_lib.PIPELINE_NAME) -> None:
  """Runs the whole pipeline and waits for it."""
  pipeline = build(output_dir, data_dir, dataset, training_config, release_config,
                   serving_dir, beam_args, enable_cache, pipeline_name)
  os.makedirs(output_dir, exist_ok=True)
  tfx.orchestration.LocalDagRunner().run_with_ir(compile_ir(pipeline))


def compile_ir(pipeline: tfx.dsl.Pipeline) -> pipeline_pb2.Pipeline:
  """The pipeline's IR, with the nodes of pipeline_lib.NEVER_CACHED never cached."""
  ir = compiler.Compiler().compile(pipeline)
  for node in ir.nodes:
    if node.pipeline_node.node_info.id in pipeline_lib.NEVER_CACHED:
      node.pipeline_node.execution_options.caching_options.enable_cache = False
  return ir
