"""Compiles create_pipeline() for Kubeflow Pipelines v2 (and Vertex AI Pipelines).

KubeflowV2DagRunner only compiles: it writes the pipeline spec that a cluster runs. Every
step runs TFX's container entrypoint in `image`, which must hold this checkout's install
(kubeflow/Dockerfile); code is referenced by import path, so nothing is packaged or
uploaded while compiling, and compiling needs no network. Beam runs in-process in each
step unless Beam arguments say otherwise (Dataflow, Flink, Spark: see kubeflow/README.md).
"""
import json
import os
from typing import Dict, Optional, Sequence

from tfx import v1 as tfx
import yaml

from petseg import config as config_lib
from petseg.models import training
from petseg.pipeline import local_runner
from petseg.pipeline import pipeline as pipeline_lib
from petseg.pipeline import release

RuntimeParameter = tfx.dsl.experimental.RuntimeParameter


def runtime_parameters(training_config: training.TrainingConfig,
                       release_config: release.ReleaseConfig) -> Dict[str, RuntimeParameter]:
  """Pipeline parameters for what users change between runs, defaulting to the configs."""
  return {
      'model_name': RuntimeParameter(name='model_name', ptype=str,
                                     default=training_config.model),
      'epochs': RuntimeParameter(name='epochs', ptype=int, default=training_config.epochs),
      'learning_rate': RuntimeParameter(name='learning_rate', ptype=float,
                                        default=training_config.learning_rate),
      'min_mean_iou': RuntimeParameter(name='min_mean_iou', ptype=float,
                                       default=release_config.min_mean_iou),
  }


def compile_pipeline(output: str, image: str, pipeline_root: str, data_dir: str,
                     dataset: config_lib.DatasetConfig,
                     training_config: training.TrainingConfig,
                     release_config: release.ReleaseConfig,
                     serving_dir: Optional[str] = None, beam_args: Sequence[str] = (),
                     enable_cache: bool = True,
                     pipeline_name: str = pipeline_lib.PIPELINE_NAME) -> str:
  """Writes the spec to `output`: .json a PipelineJob (spec and parameter values), .yaml
  a PipelineSpec; returns its absolute path."""
  parameters = runtime_parameters(training_config, release_config)
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      data_dir=data_dir,
      dataset=dataset,
      training_config=training_config,
      release_config=release_config,
      serving_dir=serving_dir or f'{pipeline_root.rstrip("/")}/serving',
      beam_pipeline_args=local_runner.checked_beam_args(beam_args),
      enable_cache=enable_cache,
      runtime_parameters=parameters)
  job = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=image, use_pipeline_spec_2_1=True),
  ).run(pipeline, parameter_values={p.name: p.default for p in parameters.values()},
        write_out=False)
  # Schema 2.1, which KFP 2.x and Vertex AI read, can give each parameter its default in
  # the spec itself (TFX only puts them in the job's runtimeConfig), so that a run may
  # leave any of them out.
  for parameter in parameters.values():
    job['pipelineSpec']['root']['inputDefinitions']['parameters'][parameter.name].update(
        defaultValue=parameter.default, isOptional=True)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, 'w') as f:
    if output.endswith(('.yaml', '.yml')):
      yaml.safe_dump(job['pipelineSpec'], f, sort_keys=True)
    else:
      json.dump(job, f, sort_keys=True, indent=1)
  return os.path.abspath(output)
