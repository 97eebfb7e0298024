"""The one definition of the petseg pipeline; every runner builds it with create_pipeline().

Runners: pipeline/local_runner.py (LocalDagRunner, Beam's DirectRunner) and
kubeflow/runner.py (compiles for Kubeflow Pipelines v2 and Vertex AI).
"""
import contextlib
from typing import Mapping, Optional, Sequence, Union

from ml_metadata.proto import metadata_store_pb2
from tfx import components as tfx_components
from tfx.dsl.experimental.conditionals import conditional
from tfx.orchestration import data_types
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import trainer_pb2
from tfx.proto import transform_pb2

from petseg.components.curated_schema import component as curated_schema
from petseg.components.curated_schema import executor as curated_schema_executor
from petseg.components.evaluator import component as evaluator_lib
from petseg.components.evaluator import executor as evaluator_executor
from petseg.components.example_gen import component as example_gen
from petseg.components.example_gen import sources
from petseg.components.latest_release import component as latest_release
from petseg.components.latest_release import executor as latest
from petseg.components.pusher import component as serving_pusher
from petseg.components.release_record import component as release_record
from petseg.components.trainer import component as trainer_lib
from petseg.components.trainer import executor as trainer_executor
from petseg.components.validation_gate import component as validation_gate
from petseg.core import config as config_lib
from petseg.core import errors
from petseg.models import training
from petseg.pipeline import run_config

PIPELINE_NAME = 'petseg'
# The ids of TFX's own components in it (ours define NODE_ID beside the component).
STATISTICS_GEN, TRANSFORM = 'StatisticsGen', 'Transform'
# The functions TFX calls by name (documented where they are defined).
PREPROCESSING_FN = 'petseg.models.preprocessing.preprocessing_fn'
RUN_FN = 'petseg.models.module_file.run_fn'
# Nodes whose output depends on more than their inputs (the serving directory changes
# outside the pipeline): a spec compiled once (Kubeflow) runs them every time instead of
# reusing a result. A pipeline built for each run passes `registry_state` instead.
NEVER_CACHED = (latest_release.NODE_ID,)
# The run's id: Kubeflow Pipelines (open-source and Vertex AI) replaces this placeholder in
# a task's inputs; the local runner gives it to the executor instead.
PIPELINE_RUN_PLACEHOLDER = '{{$.pipeline_job_uuid}}'


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_dir: str,
    config: run_config.RunConfig,
    serving_dir: str,
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
    beam_pipeline_args: Sequence[str] = (),
    enable_cache: bool = True,
    runtime_parameters: Optional[Mapping[str, data_types.RuntimeParameter]] = None,
    resume_dir: Optional[str] = None,
    registry_state: Optional[str] = None,
    retrain: Union[int, data_types.RuntimeParameter] = 0,
    registry_check_only: bool = False,
    skip_when_nothing_new: bool = True,
) -> tfx_pipeline.Pipeline:
  """Ingest -> compare with the released version (stopping there when nothing is new) ->
  validate (failing on anomalies) -> transform -> train -> evaluate against the release
  gate and the released model -> record -> push, only when blessed.

  Args:
    pipeline_name: the name runs are recorded under (ML Metadata, Kubeflow).
    pipeline_root: where artifacts are written (a local path, gs://, ...).
    data_dir: the dataset folder (for tfds, the TFDS data directory).
    config: the dataset (its source, classes and split settings), the model and its
      training recipe, and the release gate.
    serving_dir: the release registry: blessed models are pushed there as numbered versions,
      each with its release record, and the newest is the next run's baseline.
    metadata_connection_config: ML Metadata (local runs); None where the orchestrator
      keeps it (Kubeflow).
    beam_pipeline_args: for every Beam step.
    enable_cache: reuse a component's earlier result when its inputs are unchanged.
    runtime_parameters: parameters set when a run is submitted (Kubeflow), by name
      (config.RUNTIME_PARAMETERS); the others take the config's values.
    resume_dir: where the Trainer keeps a checkpoint each epoch, so that a re-run after
      the process was killed resumes there; None: training starts over.
    registry_state: the registry's state when the run was built (a local run), so that
      the registry step is served from the cache only while it is unchanged.
    retrain: 1 to train even when the data and settings are those of the served version
      (a value, or a RuntimeParameter on Kubeflow).
    registry_check_only: the pipeline up to LatestRelease only (ingest, then the check).
    skip_when_nothing_new: every step after LatestRelease conditioned on its verdict (a
      compiled spec: one run does it all). A local run checks first instead
      (local_runner.run_unless_nothing_new), so that the verdict, a new artifact whenever
      LatestRelease runs, is not among the later steps' inputs, which key their cache.
  """
  known = {p.name for p in config_lib.RUNTIME_PARAMETERS}
  unknown = set(runtime_parameters or {}) - known
  if unknown:
    raise errors.ConfigError(f'{sorted(unknown)} cannot be runtime parameters; '
                             f'these can: {sorted(known)}')
  parameters = {**config.parameter_values(), **(runtime_parameters or {})}
  dataset, source = config.dataset, sources.get(config.dataset.name)
  # Ingest: list the dataset's items, decode and check them into train/eval/test examples
  # and an ingest report; too many rejections fail the run here.
  ingest = example_gen.IngestExampleGen(data_dir, dataset)
  # The registry: the newest released version, the Evaluator's baseline (none on a first
  # release, when there is nothing to compare with), read from the registry itself rather
  # than resolved from ML Metadata, so that every orchestrator can run it; and whether the
  # data and settings differ from that version's. When they do not (and retrain is off),
  # every step below is skipped: the run trains nothing.
  training_settings = {**{k: v for k, v in config.training.to_json().items()
                          if k not in {p.field for p in trainer_executor.PARAMETERS}},
                       'labels': dataset.labels.to_json(),
                       **({training.RESUME_DIR_KEY: resume_dir} if resume_dir else {})}
  baseline = latest_release.LatestRelease(
      examples=ingest.outputs['examples'], serving_dir=serving_dir,
      training=training_settings, release=config.release,
      parameters={**parameters, latest.RETRAIN: retrain}, pipeline_name=pipeline_name,
      pipeline_run=PIPELINE_RUN_PLACEHOLDER, registry_state=registry_state or '').with_id(
          latest_release.NODE_ID)
  if registry_check_only:
    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name, pipeline_root=pipeline_root,
        components=[ingest, baseline], enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args))
  nothing_new = baseline.outputs['freshness'].future()[0].custom_property(latest.NOTHING_NEW)
  with (conditional.Cond(nothing_new == 0) if skip_when_nothing_new
        else contextlib.nullcontext()):
    # Validate: describe the examples, compare them with the source's curated schema, and
    # stop the run on any anomaly.
    statistics_gen = tfx_components.StatisticsGen(
        examples=ingest.outputs['examples']).with_id(STATISTICS_GEN)
    schema_gen = curated_schema.CuratedSchema(
        schema_name=source.schema, sha256=curated_schema_executor.digest(source.schema))
    example_validator = tfx_components.ExampleValidator(
        statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'])
    gate = validation_gate.ValidationGate(anomalies=example_validator.outputs['anomalies'])

    # Transform: decode and resize images and masks to the model's size, in a graph that
    # the exported model carries, so that serving transforms exactly as training did.
    # Code is referenced by import path, not module_file, so that nothing is packaged at
    # compile time and the Kubeflow image runs the installed package.
    transform = tfx_components.Transform(
        examples=ingest.outputs['examples'],
        schema=schema_gen.outputs['schema'],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={'image_size': config.training.image_size,
                       'num_classes': dataset.labels.num_classes},
        # Statistics come from the training split only; StatisticsGen already described
        # the data, so Transform's own statistics would only cost time.
        splits_config=transform_pb2.SplitsConfig(analyze=['train'],
                                             transform=['train', 'eval', 'test']),
        disable_statistics=True).with_id(TRANSFORM)
    transform.add_upstream_node(gate)
    # Train: the chosen model, on the transformed train split, choosing its best epoch on
    # the eval split; the SavedModel takes raw examples or encoded images.
    trainer = trainer_lib.Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs['transformed_examples'],
        transform_graph=transform.outputs['transform_graph'],
        train_args=trainer_pb2.TrainArgs(splits=['train']),
        eval_args=trainer_pb2.EvalArgs(splits=['eval']),
        custom_config=training_settings,
        parameters=parameters).with_id(trainer_lib.NODE_ID)

    # Raw test examples: the model's own signatures transform them, so evaluation sees
    # exactly what serving will.
    evaluator = evaluator_lib.Evaluator(
        examples=ingest.outputs['examples'],
        model=trainer.outputs['model'],
        baseline_model=baseline.outputs['baseline'],
        example_splits=['test'],
        labels=dataset.labels, slice_features=source.slice_features,
        release=config.release, parameters=parameters).with_id(evaluator_lib.NODE_ID)
    # Record: the run summary and HTML report, as artifacts, whether or not it is blessed.
    record = release_record.ReleaseRecord(
        examples=ingest.outputs['examples'], model=trainer.outputs['model'],
        model_run=trainer.outputs['model_run'], evaluation=evaluator.outputs['evaluation'],
        blessing=evaluator.outputs['blessing'], baseline=baseline.outputs['baseline'],
        pipeline_name=pipeline_name, pipeline_run=PIPELINE_RUN_PLACEHOLDER,
        serving_dir=serving_dir).with_id(release_record.NODE_ID)
    # Push: copy the model into the serving directory as its next version, only when blessed.
    blessed = evaluator.outputs['blessing'].future()[0].custom_property(
        evaluator_executor.BLESSED_KEY)
    with conditional.Cond(blessed == 1):
      pusher = serving_pusher.ServingPusher(
          model=trainer.outputs['model'], model_blessing=evaluator.outputs['blessing'],
          summary=record.outputs['summary'], base_directory=serving_dir).with_id(
              serving_pusher.NODE_ID)

  return tfx_pipeline.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=[ingest, baseline, statistics_gen, schema_gen, example_validator, gate,
                  transform, trainer, evaluator, record, pusher],
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args),
  )
