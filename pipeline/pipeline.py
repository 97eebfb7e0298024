"""The one definition of the petseg pipeline; every runner builds it with create_pipeline()."""
from typing import Optional, Sequence

from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from petseg import config as config_lib
from petseg import schemas
from petseg.components import example_gen
from petseg.components import validation_gate


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_dir: str,
    dataset: config_lib.DatasetConfig,
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
    beam_pipeline_args: Sequence[str] = (),
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
  """Ingest -> statistics -> curated schema -> validation, failing on anomalies."""
  ingest = example_gen.IngestExampleGen(data_dir, dataset)
  statistics_gen = tfx.components.StatisticsGen(examples=ingest.outputs['examples'])
  schema_gen = tfx.components.ImportSchemaGen(schema_file=schemas.schema_path(dataset.source))
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'])
  gate = validation_gate.ValidationGate(anomalies=example_validator.outputs['anomalies'])

  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=[ingest, statistics_gen, schema_gen, example_validator, gate],
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args),
  )
