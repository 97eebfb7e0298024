"""ExampleGen for image/mask datasets: a FileBasedExampleGen with its own executor (see
executor.py), so that it runs under every TFX orchestrator (the Kubeflow v2 driver
included) and caches on the driver's fingerprint of the data files."""
import json
from typing import Sequence

from google.protobuf import message
from google.protobuf import wrappers_pb2
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from petseg.components.example_gen import executor as executor_lib
from petseg.components.example_gen import listing
from petseg.components.example_gen import sources
from petseg.core import config as config_lib


NODE_ID = 'ExampleGen'  # the step's id in every pipeline and record


def IngestExampleGen(data_dir: str, config: config_lib.DatasetConfig) -> FileBasedExampleGen:
  """The ExampleGen component for a dataset folder (or TFDS data directory)."""
  patterns = sources.get(config.name).reader.fingerprint_patterns(config)
  input_config = example_gen_pb2.Input(splits=[
      example_gen_pb2.Input.Split(name=split, pattern=pattern)
      for split, pattern in patterns.items()])
  custom_config = example_gen_pb2.CustomConfig()
  custom_config.custom_config.Pack(wrappers_pb2.StringValue(value=json.dumps(config.to_json())))
  return FileBasedExampleGen(
      input_base=data_dir, input_config=input_config, custom_config=custom_config,
      custom_executor_spec=executor_spec.BeamExecutorSpec(executor_lib.Executor)).with_id(NODE_ID)


def ingest(data_dir: str, config: config_lib.DatasetConfig, output_uri: str,
           beam_pipeline_args: Sequence[str] = (),
           required_splits: Sequence[str] = listing.SPLITS) -> standard_artifacts.Examples:
  """Runs the ExampleGen executor alone, as the pipeline would, writing into `output_uri`.

  For benchmarks and for scoring a model on data without ML Metadata; raises IngestError
  like a run when one of `required_splits` is empty or rejects too much.
  """
  component = IngestExampleGen(data_dir, config)
  exec_properties = {
      key: proto_utils.proto_to_json(value) if isinstance(value, message.Message) else value
      for key, value in component.exec_properties.items()}
  examples = standard_artifacts.Examples()
  examples.uri = output_uri
  context = executor_lib.Executor.Context(beam_pipeline_args=list(beam_pipeline_args))
  executor_lib.Executor(context, required_splits).Do(
      {}, {standard_component_specs.EXAMPLES_KEY: [examples]}, exec_properties)
  return examples
