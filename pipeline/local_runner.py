"""Runs the pipeline on this machine: LocalDagRunner, Beam DirectRunner, SQLite ML Metadata."""
import os
from typing import Sequence

from tfx import v1 as tfx

from petseg import config as config_lib
from petseg.pipeline import pipeline as pipeline_lib

# On 2 cores, in-memory beats multi-processing (measured: workers cost more than they win).
DEFAULT_BEAM_ARGS = ('--runner=DirectRunner', '--direct_running_mode=in_memory',
                     '--direct_num_workers=1')
PIPELINE_NAME = 'petseg'


def metadata_path(output_dir: str) -> str:
  return os.path.join(output_dir, 'metadata.sqlite')


def run(output_dir: str, data_dir: str, dataset: config_lib.DatasetConfig,
        beam_args: Sequence[str] = (), enable_cache: bool = True,
        pipeline_name: str = PIPELINE_NAME) -> None:
  """Runs the whole pipeline; ML Metadata and every artifact live under `output_dir`."""
  os.makedirs(output_dir, exist_ok=True)
  tfx.orchestration.LocalDagRunner().run(pipeline_lib.create_pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=os.path.join(output_dir, 'pipeline_root'),
      data_dir=os.path.abspath(data_dir) if '://' not in data_dir else data_dir,
      dataset=dataset,
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(metadata_path(output_dir)),
      # Later arguments win, so the user's override the defaults.
      beam_pipeline_args=[*DEFAULT_BEAM_ARGS, *beam_args],
      enable_cache=enable_cache))
