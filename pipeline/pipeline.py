"""The one definition of the petseg pipeline; every runner builds it with create_pipeline()."""
from typing import Optional, Sequence

from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from petseg import config as config_lib
from petseg import schemas
from petseg.components import example_gen
from petseg.components import serving_pusher
from petseg.components import validation_gate
from petseg.models import training
from petseg.pipeline import release

PREPROCESSING_FN = 'petseg.models.preprocessing.preprocessing_fn'
RUN_FN = 'petseg.models.trainer.run_fn'
# Features of the raw examples that evaluation reports slices of, per source.
SLICE_FEATURES = {'oxford_pets': ('species',), 'tfds': ('species',)}


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_dir: str,
    dataset: config_lib.DatasetConfig,
    training_config: training.TrainingConfig,
    release_config: release.ReleaseConfig,
    serving_dir: str,
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
    beam_pipeline_args: Sequence[str] = (),
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
  """Ingest -> validate (failing on anomalies) -> transform -> train -> evaluate against
  the release gate and the last blessed model -> push, only when blessed."""
  ingest = example_gen.IngestExampleGen(data_dir, dataset)
  statistics_gen = tfx.components.StatisticsGen(examples=ingest.outputs['examples'])
  schema_gen = tfx.components.ImportSchemaGen(schema_file=schemas.schema_path(dataset.source))
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'])
  gate = validation_gate.ValidationGate(anomalies=example_validator.outputs['anomalies'])

  # Code is referenced by import path, not module_file, so that nothing is packaged at
  # compile time and the Kubeflow image runs the installed package.
  transform = tfx.components.Transform(
      examples=ingest.outputs['examples'],
      schema=schema_gen.outputs['schema'],
      preprocessing_fn=PREPROCESSING_FN,
      custom_config={'image_size': training_config.image_size,
                     'num_classes': dataset.labels.num_classes},
      # Statistics come from the training split only; StatisticsGen already described
      # the data, so Transform's own statistics would only cost time.
      splits_config=tfx.proto.SplitsConfig(analyze=['train'],
                                           transform=['train', 'eval', 'test']),
      disable_statistics=True)
  transform.add_upstream_node(gate)
  trainer = tfx.components.Trainer(
      run_fn=RUN_FN,
      examples=transform.outputs['transformed_examples'],
      transform_graph=transform.outputs['transform_graph'],
      train_args=tfx.proto.TrainArgs(splits=['train']),
      eval_args=tfx.proto.EvalArgs(splits=['eval']),
      custom_config={**training_config.to_json(), 'labels': dataset.labels.to_json()})

  # The baseline: the latest model that was blessed (none on a first run, when the change
  # threshold is skipped).
  baseline = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
  ).with_id('latest_blessed_model_resolver')
  # Raw test examples: the model's own signatures transform them, so evaluation sees
  # exactly what serving will.
  evaluator = tfx.components.Evaluator(
      examples=ingest.outputs['examples'],
      model=trainer.outputs['model'],
      baseline_model=baseline.outputs['model'],
      example_splits=['test'],
      eval_config=release.eval_config(release_config, dataset.labels,
                                      slice_features=SLICE_FEATURES.get(dataset.source, ())))
  with tfx.dsl.Cond(evaluator.outputs['blessing'].future()[0].custom_property('blessed') == 1):
    pusher = serving_pusher.ServingPusher(
        model=trainer.outputs['model'],
        model_blessing=evaluator.outputs['blessing'],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_dir)),
    ).with_id('Pusher')

  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=[ingest, statistics_gen, schema_gen, example_validator, gate, transform,
                  trainer, baseline, evaluator, pusher],
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args),
  )
