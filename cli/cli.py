"""The `petseg` command.

  petseg make-sample-data DIR            a synthetic dataset in the Oxford-IIIT Pet layout
  petseg run --dataset NAME --data-dir DIR --output-dir DIR [-- BEAM_ARGS...]
  petseg compile --engine kubeflow --output pipeline.json --image IMAGE --pipeline-root ROOT
      --dataset NAME --data-dir DIR [-- BEAM_ARGS...]
  petseg submit [--package FILE | COMPILE FLAGS] --host URL [--param NAME=VALUE] [--dry-run]
  petseg schedule --cron "0 3 * * *" [--package FILE | COMPILE FLAGS] --host URL [--dry-run]
      (and: schedule --list, --pause NAME, --resume NAME, --delete NAME)
  petseg predict --model-dir DIR IMAGE... --output-dir DIR
  petseg evaluate --model-dir DIR --dataset NAME --data-dir DIR [--split test] [--at-own-size]
  petseg releases --serving-dir DIR [--all] [--json]   (and: releases show N)
  petseg rollback --serving-dir DIR [--to N] --reason TEXT
  petseg restore N --serving-dir DIR [--reason TEXT]

TFX and TensorFlow are imported only by the commands that need them, so that `--help`
and argument errors answer at once.
"""
import argparse
import collections.abc
import json
import os
import re
import signal
import sys
import tempfile
import threading
import typing
import warnings
from typing import Any, Callable, List, Optional, Sequence

import petseg  # pylint: disable=unused-import  (sets TF_USE_LEGACY_KERAS before TF loads)
from petseg import console
from petseg import releases
from petseg import scheduling
from petseg.components.example_gen import sources
from petseg.core import config as config_lib
from petseg.core import errors
from petseg.core import storage
from petseg.kubeflow import conformance
from petseg.models import recipe

REPORT_FILE = 'report.html'  # in OUTPUT_DIR: a copy of the run's report artifact
RUN_SUMMARY_FILE = 'run_summary.json'  # in OUTPUT_DIR: the run's result (metadata.RunResult)


def _make_sample_data(args: argparse.Namespace) -> None:
  from petseg import sample_data  # pylint: disable=g-import-not-at-top
  sizes = sample_data.make_sample_data(args.dir, num_images=args.num_images, seed=args.seed)
  print(f'Wrote {sizes["list.txt"]} images to {args.dir} '
        f'({sizes["trainval.txt"]} trainval, {sizes["test.txt"]} test)')


# The run configuration's sections (pipeline/run_config.py) and the typed record of each:
# their flags are made from the records' fields, help and defaults included
# (config.setting, config.flags).
SECTIONS = (('dataset', config_lib.DatasetConfig), ('training', recipe.TrainingConfig),
            ('release', config_lib.ReleaseConfig))


def _setting_flags() -> List[config_lib.Flag]:
  return [flag for section, record in SECTIONS for flag in config_lib.flags(section, record)]


def _is_mapping(kind: Any) -> bool:
  return typing.get_origin(kind) in (dict, collections.abc.Mapping)


def _add_setting_flag(parser: argparse.ArgumentParser, flag: config_lib.Flag) -> None:
  """The flag of one field: a switch for a bool, CLASS=X (repeatable) for a per-class
  mapping, otherwise its value, of the field's type where that is a number."""
  help_text = flag.help.replace('%', '%%')  # argparse formats help with %
  if flag.kind is bool:
    parser.add_argument(flag.option, action='store_true', help=help_text)
  elif _is_mapping(flag.kind):
    parser.add_argument(flag.option, type=_class_bound, action='append',
                        metavar=flag.metavar, help=help_text)
  else:
    number = next((k for k in (int, float) if flag.kind in (k, Optional[k])), None)
    parser.add_argument(flag.option, type=number, metavar=flag.metavar,
                        choices=flag.choices, help=help_text)


def _flag_settings(args: argparse.Namespace) -> dict:
  """The settings the flags give, in the config file's sections."""
  settings = {section: {} for section, _ in SECTIONS}
  for flag in _setting_flags():
    value = getattr(args, flag.field, None)
    if value is not None and value is not False and value != []:
      settings[flag.section][flag.field] = dict(value) if _is_mapping(flag.kind) else value
  if getattr(args, 'border_as_ignore', False):  # a label setting, not a field: the labels
    settings['dataset']['border_as_ignore'] = True
  return settings


def _from_settings(args: argparse.Namespace, build: Callable[[dict], Any]) -> Any:
  """build(settings): the config file's settings, overridden by the flags', by section. A
  ConfigError that the config file causes by itself names the file."""
  from petseg.pipeline import run_config  # pylint: disable=g-import-not-at-top
  in_file = config_lib.load_settings(args.config) if args.config else {}
  try:
    return build(run_config.merge(in_file, _flag_settings(args)))
  except errors.ConfigError:
    if args.config:
      try:
        build(run_config.merge(in_file))
      except errors.ConfigError as e:
        raise errors.ConfigError(f'{args.config}: {e}') from None
    raise


def _class_bound(text: str):
  """NAME=X for --min-class-iou and --max-class-drop."""
  name, _, value = text.rpartition('=')
  try:
    if not name:
      raise ValueError
    return name, float(value)
  except ValueError:
    raise argparse.ArgumentTypeError(f'expected CLASS=BOUND, e.g. pet=0.6, got {text!r}') from None


def _copy_here(uri: str, path: str) -> None:
  """Copies an artifact's file (local or in an object store) to `path` on this machine."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.io.gfile.copy(storage.openable(uri), path, overwrite=True)


def _summarise_run(output_dir: str, pipeline_name: str, run_id: str, log_path: str) -> None:
  """Says what the run decided (its ReleaseRecord step's release record); writes its
  result as OUTPUT_DIR/run_summary.json, and copies its HTML report and its ingest report
  to OUTPUT_DIR."""
  from petseg.records import ingest_report  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import metadata  # pylint: disable=g-import-not-at-top
  metadata_path = local_runner.metadata_path(output_dir)
  store = metadata.connect(metadata_path)
  result = metadata.run_result(store, metadata.run_executions(store, pipeline_name, run_id))
  ingest_path = os.path.join(output_dir, ingest_report.FILE_NAME)
  _copy_here(result.summary.ingest_report, ingest_path)
  with open(os.path.join(output_dir, RUN_SUMMARY_FILE), 'w') as f:
    json.dump(result.to_json(), f, indent=2)
  # The artifact is one file named `value` (TFX's layout), which browsers show as text.
  _copy_here(result.report, os.path.join(output_dir, REPORT_FILE))
  console.say(f'Run {run_id} finished (ML Metadata: {metadata_path})')
  for line in console.run_table(result.summary, result.pushed):
    console.say(line)
  for line in ingest_report.read(ingest_path).reason_lines():
    console.say(f'Skipped    {line} (see {ingest_report.FILE_NAME})')
  console.say(f'Wrote      {REPORT_FILE}, {RUN_SUMMARY_FILE} and {ingest_report.FILE_NAME} in '
              f'{output_dir}; log: {log_path}')


def _summarise_nothing_new(output_dir: str, serving_dir: str, pipeline_name: str,
                           run_id: str, skipped, log_path: str) -> None:
  """Says that a run had nothing new to train on (metadata.NothingNew), in one line; writes
  it as OUTPUT_DIR/run_summary.json, and in the registry's decision log where the
  registry step came from the cache (which then wrote none)."""
  from petseg.components.latest_release import executor as latest  # pylint: disable=g-import-not-at-top
  if skipped.cached:
    latest.log_nothing_new(storage.openable(serving_dir), latest.nothing_new_decision(
        skipped.line, skipped.version, None, skipped.data_fingerprint,
        skipped.config_fingerprint, pipeline_name, run_id))
  with open(os.path.join(output_dir, RUN_SUMMARY_FILE), 'w') as f:
    json.dump({'pipeline_run': run_id, 'nothing_new': True, 'reason': skipped.line,
               'served_version': skipped.version}, f, indent=2)
  console.say(f'Run {run_id}: {skipped.line}; trained nothing (--retrain trains all the '
              f'same); log: {log_path}')


def _local_data(dataset: config_lib.DatasetConfig, data_dir: str) -> None:
  """Refuses a data directory that is not there (TFDS makes its own), or an object store
  that cannot be read (its endpoint or credentials)."""
  if not sources.get(dataset.name).needs_data_dir:
    return
  if storage.of(data_dir).local:
    if os.path.exists(data_dir) and not os.path.isdir(data_dir):
      raise errors.ConfigError(f'--data-dir {data_dir}: is a file, not a directory')
    if not os.path.isdir(data_dir):
      raise errors.ConfigError(f'--data-dir {data_dir}: no such directory')
    return
  storage.reachable(data_dir, '--data-dir')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    found = tf.io.gfile.isdir(storage.openable(data_dir))
  except tf.errors.OpError as e:
    raise errors.ConfigError(f'--data-dir {data_dir}: cannot be read ({e.message}); '
                             f'check {storage.ENDPOINT_ENV} and the credentials') from None
  if not found:
    raise errors.ConfigError(f'--data-dir {data_dir}: no such directory')


def _run_config(args: argparse.Namespace):
  """The run configuration from the config file and flags."""
  from petseg.pipeline import run_config  # pylint: disable=g-import-not-at-top
  return _from_settings(args, lambda settings: run_config.RunConfig.from_settings(
      args.dataset, args.data_dir, settings))


def _writable_dir(path: str, flag: str) -> str:
  """`path`, made if need be and checked by writing into it; ConfigError names the flag."""
  if not storage.of(path).local:
    storage.reachable(path, flag)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    probe = f'{storage.openable(path).rstrip("/")}/.petseg-write-check'
    try:
      with tf.io.gfile.GFile(probe, 'w') as f:
        f.write('')
      tf.io.gfile.remove(probe)
    except tf.errors.OpError as e:
      raise errors.ConfigError(f'{flag} {path}: cannot write there ({e.message}); check '
                               f'{storage.ENDPOINT_ENV} and the credentials') from None
    return path
  if os.path.exists(path) and not os.path.isdir(path):
    raise errors.ConfigError(f'{flag} {path}: exists and is not a directory')
  try:
    os.makedirs(path, exist_ok=True)
    tempfile.TemporaryFile(dir=path).close()
  except OSError as e:
    raise errors.ConfigError(f'{flag} {path}: cannot write there ({e.strerror})') from None
  return path


def _run(args: argparse.Namespace, beam_args: Sequence[str], log_path: str) -> None:
  """Checks every setting and path, takes the output directory's lock, tidies up after
  a run that was killed there, runs, and summarises."""
  from petseg import run_lock  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import beam_args as beam_args_lib  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import local_runner  # pylint: disable=g-import-not-at-top
  config = _run_config(args)
  _local_data(config.dataset, args.data_dir)
  beam_args_lib.checked(beam_args)
  if not storage.of(args.output_dir).local:
    raise errors.ConfigError(f'--output-dir {args.output_dir}: must be on this machine (it '
                             'holds ML Metadata, the lock and the log); put the artifacts '
                             'in an object store with --pipeline-root')
  output_dir = _writable_dir(args.output_dir, '--output-dir')
  serving_dir = _writable_dir(
      args.serving_dir or local_runner.default_serving_dir(output_dir), '--serving-dir')
  pipeline_root = _writable_dir(
      args.pipeline_root or local_runner.default_pipeline_root(output_dir),
      '--pipeline-root')
  with run_lock.hold(output_dir) as previous:
    if previous:
      console.say(f'Took over the lock of a run that ended without releasing it '
                  f'({run_lock.describe(previous)})')
    for path in local_runner.tidy_interrupted(output_dir, args.pipeline_name, pipeline_root):
      console.say(f'Removed the partial output of an interrupted run: {path}')
    console.say(f'Running {config.training.model} on {args.data_dir} into {output_dir}')
    build_args = dict(serving_dir=serving_dir, beam_args=beam_args,
                      enable_cache=not args.no_cache, pipeline_name=args.pipeline_name,
                      pipeline_root=pipeline_root, retrain=args.retrain)
    run_id, skipped = local_runner.run_unless_nothing_new(output_dir, args.data_dir, config,
                                                          **build_args)
    if skipped:
      _summarise_nothing_new(output_dir, serving_dir, args.pipeline_name, run_id, skipped,
                             log_path)
    else:
      _summarise_run(output_dir, args.pipeline_name, run_id, log_path)


def _memory_gb(text: str) -> float:
  """--trainer-memory: 16, 16G (gigabytes) or 16Gi (gibibytes), as gigabytes."""
  match = re.fullmatch(r'(\d+(?:\.\d+)?)(G|Gi)?', text)
  if not match or float(match[1]) <= 0:
    raise argparse.ArgumentTypeError(f'expected gigabytes, e.g. 16, 16G or 16Gi, got {text!r}')
  return float(match[1]) * (1.073741824 if match[2] == 'Gi' else 1)


def _compiled(args: argparse.Namespace, beam_args: Sequence[str],
              say: Callable[[str], None] = console.say):
  """Compiles the pipeline the flags describe to args.output; says what it wrote and
  returns it (runner.Compiled)."""
  from petseg.kubeflow import runner  # pylint: disable=g-import-not-at-top
  if args.target != 'kfp' and (args.kfp_version or args.namespace):
    raise errors.ConfigError('--kfp-version and --namespace describe an open-source Kubeflow '
                             'Pipelines install: they go with --target kfp')
  cluster = runner.Cluster(args.kfp_version or runner.DEFAULT_KFP_VERSION, args.namespace or '')
  args.data_dir = args.data_dir or cluster.private_dir('data', args.dataset)
  if not args.data_dir:
    raise errors.ConfigError('--data-dir: required, unless --namespace gives its default')
  config = _run_config(args)
  trainer = runner.resources_of(runner.TRAINER, {})
  trainer = runner.StepResources(
      cpu=args.trainer_cpu or trainer.cpu, memory_gb=args.trainer_memory or trainer.memory_gb,
      gpus=args.trainer_gpus or 0, gpu_type=args.trainer_gpu_type or '')
  compiled = runner.compile_pipeline(
      args.output, args.image, args.pipeline_root, args.data_dir, config,
      serving_dir=args.serving_dir, beam_args=beam_args,
      enable_cache=not args.no_cache, pipeline_name=args.pipeline_name, target=args.target,
      resources={runner.TRAINER: trainer}, s3_endpoint=args.s3_endpoint,
      s3_secret=args.s3_secret, cluster=cluster, gpu_image=args.gpu_image)
  say(f'Wrote {compiled.path}: pipeline {args.pipeline_name!r}, '
              f'{compiled.description.partition(", ")[2]}; image {args.image}; pipeline root '
              f'{compiled.pipeline_root} (submit with it); runtime parameters: '
              + ', '.join(f'{p.name}={p.default}' for p in
                          runner.runtime_parameters(config).values()))
  return compiled


def _compile(args: argparse.Namespace, beam_args: Sequence[str], log_path: str) -> None:
  _compiled(args, beam_args)
  console.error(f'Log: {log_path}')


def _predict(args: argparse.Namespace, beam_args: Sequence[str], log_path: str) -> None:
  del beam_args  # predict runs no Beam
  from petseg import released_model  # pylint: disable=g-import-not-at-top
  storage.reachable(args.model_dir, '--model-dir')
  result = released_model.predict(args.model_dir, args.images, args.output_dir,
                                  args.max_pixels, overwrite=args.overwrite)
  console.say(f'Model: {result.model}')
  record = result.record
  if record:
    mean_iou = 'none' if record.test.mean_iou is None else f'{record.test.mean_iou:.3f}'
    console.say(f'Release: version {record.version} of {record.model}, released '
                f'{record.released_at} by run {record.pipeline_run}, test mean IoU {mean_iou}')
  for _, reason in result.skipped:  # the reason names the file
    console.error(f'skipped {reason}')
  if result.upright:
    console.say(f'{len(result.upright)} images turned upright by their EXIF orientation, '
                'as viewers show them (their masks match): ' + ', '.join(result.upright))
  console.say(f'{len(result.written)} masks and overlays written to {args.output_dir}, '
              f'{len(result.skipped)} images skipped; log: {log_path}')
  if result.skipped:
    raise errors.DataError(f'{len(result.skipped)} of {len(args.images)} images could not '
                           'be read (listed above)')


def _evaluate(args: argparse.Namespace, beam_args: Sequence[str], log_path: str) -> None:
  from petseg import released_model  # pylint: disable=g-import-not-at-top
  from petseg.pipeline import beam_args as beam_args_lib  # pylint: disable=g-import-not-at-top
  dataset = _from_settings(args, lambda settings: sources.dataset_config(
      args.dataset, args.data_dir, settings['dataset']))
  _local_data(dataset, args.data_dir)
  beam_args = beam_args_lib.checked(beam_args)
  storage.reachable(args.model_dir, '--model-dir')
  evaluation = released_model.evaluate(args.model_dir, dataset, args.data_dir, args.split,
                                        beam_args, args.at_own_size)
  console.say(json.dumps(evaluation.to_json(), indent=2))
  console.error(f'Log: {log_path}')


def _add_pipeline_flags(parser: argparse.ArgumentParser, required: bool = True,
                        data_dir_help: Optional[str] = None) -> None:
  """The dataset, training and release flags that `run` and `compile` share; with
  `data_dir_help`, --data-dir has a default, which that says; `required` says whether
  --dataset must be given."""
  parser.add_argument('--dataset', required=required, choices=sorted(sources.SOURCES),
                      help=sources.help_text())
  parser.add_argument('--data-dir', required=data_dir_help is None,
                      help=data_dir_help or 'the dataset folder (for tfds: the TFDS data '
                      'directory)')
  parser.add_argument('--config', help='JSON file of the run configuration: a "dataset" '
                      'object (classes, palette, split fractions; its keys may also sit at '
                      'the top level), a "training" object for the training recipe and a '
                      '"release" object for the release gate; flags override it')
  for flag in _setting_flags():
    _add_setting_flag(parser, flag)
  parser.add_argument('--border-as-ignore', action='store_true',
                      help='Oxford trimaps: ignore the border band instead of learning it')
  parser.add_argument('--pipeline-name', default='petseg')
  parser.add_argument('--no-cache', action='store_true', help='re-run every component')


def _add_verbose_flag(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--verbose', action='store_true',
                      help='show the libraries\' logs and warnings (TensorFlow, absl, Beam) as '
                      'they come; they always go to the log file')


def _add_compile_flags(parser: argparse.ArgumentParser, required: bool = True) -> None:
  """What `compile` takes, and `submit` and `schedule` (which compile when given no
  --package): `required` says whether --output, --image and --dataset must be given."""
  parser.add_argument('--target', choices=conformance.TARGETS, default='kfp',
                      help='the backend the spec must run on: open-source Kubeflow '
                      'Pipelines 2.x (default) or Vertex AI Pipelines; compiling fails, '
                      'naming the task, on what it would refuse')
  _add_pipeline_flags(parser, required=required, data_dir_help='the dataset folder, where '
                      'the steps read it (default with --namespace: minio://mlpipeline/'
                      'private/NAMESPACE/data/DATASET)')
  parser.add_argument('--kfp-version', metavar='X.Y',
                      help='the open-source Kubeflow Pipelines release the spec runs on, '
                      f'{conformance.SUPPORTED_BACKENDS[0]} to '
                      f'{conformance.SUPPORTED_BACKENDS[1]} (default '
                      f'{conformance.SUPPORTED_BACKENDS[1]}): its object store is MinIO '
                      '(minio-service.kubeflow:9000) up to 2.15, SeaweedFS '
                      '(seaweedfs.kubeflow:9000) from 2.16')
  parser.add_argument('--namespace', metavar='NAME',
                      help='the profile namespace runs go to on a multi-user install: the '
                      'pipeline root, data and serving directories default to where its '
                      'keys may write (minio://mlpipeline/private-artifacts/NAME/v2/'
                      'artifacts, .../private/NAME/data/DATASET, '
                      '.../private/NAME/serving/PIPELINE_NAME)')
  parser.add_argument('--output', required=required,
                      help='the spec: .json (a PipelineJob) or .yaml (a PipelineSpec)')
  parser.add_argument('--image', required=required,
                      help='the container image built from kubeflow/Dockerfile')
  parser.add_argument('--gpu-image', metavar='IMAGE',
                      help='the image a Trainer given --trainer-gpus runs in, built with '
                      '--build-arg EXTRAS=gpu (default: --image\'s tag plus -gpu)')
  parser.add_argument('--pipeline-root',
                      help='where the cluster writes artifacts, e.g. gs://bucket/petseg '
                      '(required for --target vertex; for kfp the default is the '
                      'launcher\'s: minio://mlpipeline/v2/artifacts, with --namespace '
                      'minio://mlpipeline/private-artifacts/NAMESPACE/v2/artifacts)')
  parser.add_argument('--serving-dir', help='blessed models are pushed here '
                      '(default PIPELINE_ROOT/serving; with --namespace '
                      'minio://mlpipeline/private/NAMESPACE/serving/PIPELINE_NAME)')
  parser.add_argument('--trainer-cpu', type=float, metavar='N',
                      help='CPUs the Trainer requests and is limited to (default 4)')
  parser.add_argument('--trainer-memory', type=_memory_gb, metavar='GB',
                      help='memory the Trainer requests and is limited to, e.g. 16, 16G '
                      'or 16Gi (default 16G)')
  parser.add_argument('--trainer-gpus', type=int, metavar='N',
                      help='GPUs for the Trainer (default none)')
  parser.add_argument('--trainer-gpu-type', metavar='TYPE',
                      help='the GPUs\' resource name on Kubeflow (default nvidia.com/gpu) '
                      'or accelerator type on Vertex AI (default NVIDIA_TESLA_T4)')
  parser.add_argument('--s3-endpoint', metavar='URL',
                      help='the S3-compatible store the steps read and write (default for '
                      'minio:// paths: the store of the --kfp-version install; '
                      'none for s3://: AWS)')
  parser.add_argument('--s3-secret', metavar='NAME',
                      help='the Kubernetes secret with the store\'s keys under accesskey '
                      'and secretkey (default for minio:// paths: KFP\'s own, '
                      'mlpipeline-minio-artifact; none for s3://: the pods\' identity)')


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='petseg', description=__doc__.split('\n\n')[0])
  commands = parser.add_subparsers(dest='command', required=True)

  sample = commands.add_parser('make-sample-data',
                               help='write a synthetic dataset in the Oxford-IIIT Pet layout')
  sample.add_argument('dir')
  sample.add_argument('--num-images', type=int, default=64)
  sample.add_argument('--seed', type=int, default=0)
  sample.set_defaults(handler=lambda args, *_: _make_sample_data(args))

  run = commands.add_parser(
      'run', help='run the pipeline locally (LocalDagRunner, Beam DirectRunner)',
      epilog='Arguments after "--" go to Beam, e.g. -- --direct_num_workers=2.')
  _add_pipeline_flags(run)
  run.add_argument('--output-dir', required=True,
                   help='artifacts, ML Metadata (metadata.sqlite) and reports go here')
  run.add_argument('--serving-dir', help='blessed models are pushed here as numbered '
                   'versions, TensorFlow Serving\'s layout (default OUTPUT_DIR/serving)')
  run.add_argument('--pipeline-root', help='artifacts go here (default '
                   'OUTPUT_DIR/pipeline_root); s3://, minio:// or gs:// for an object store')
  run.add_argument('--retrain', action='store_true',
                   help='go on even when the data and settings are those of the version '
                   'being served (a run that has nothing new otherwise stops after '
                   'LatestRelease); steps whose inputs are unchanged still come from the '
                   'cache (--no-cache runs every step, and so trains)')
  _add_verbose_flag(run)
  run.set_defaults(handler=_run)

  compile_ = commands.add_parser(
      'compile', help='compile the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines',
      epilog='Arguments after "--" go to Beam in every step, e.g. -- --runner=DataflowRunner '
      '--project=P --region=R --temp_location=gs://B/tmp. See kubeflow/README.md.')
  compile_.add_argument('--engine', required=True, choices=['kubeflow'])
  _add_compile_flags(compile_)
  _add_verbose_flag(compile_)
  compile_.set_defaults(handler=_compile)

  submit = commands.add_parser(
      'submit', help='start a run of the pipeline on Kubeflow Pipelines or Vertex AI',
      epilog='Without --package, the compile flags compile one first. See kubeflow/README.md.')
  scheduling.add_flags(submit)
  _add_compile_flags(submit, required=False)
  _add_verbose_flag(submit)
  submit.set_defaults(handler=lambda *a: scheduling.submit_command(*a, compile_fn=_compiled))

  schedule = commands.add_parser(
      'schedule', help='run the pipeline on a cron schedule on Kubeflow Pipelines or '
      'Vertex AI, and list, pause, resume or delete schedules',
      description='A recurring run: ' + scheduling.SCHEDULE_PROMISE + '.',
      epilog='Without --package, the compile flags compile one first. See kubeflow/README.md.')
  schedule.add_argument('--cron', metavar='EXPR',
                        help='when to run: five fields, minute hour day-of-month month '
                        'day-of-week, in UTC, e.g. "0 3 * * *" every day at 03:00; '
                        + scheduling.SCHEDULE_PROMISE)
  schedule.add_argument('--list', action='store_true', help='list the schedules')
  for action in ('pause', 'resume', 'delete'):
    schedule.add_argument(f'--{action}', metavar='NAME', help=f'{action} the schedule NAME')
  scheduling.add_flags(schedule)
  _add_compile_flags(schedule, required=False)
  _add_verbose_flag(schedule)
  schedule.set_defaults(handler=lambda *a: scheduling.schedule_command(*a, compile_fn=_compiled))

  predict = commands.add_parser(
      'predict', help='class-id masks and colour overlays for images, from a released model')
  predict.add_argument('--model-dir', required=True, help='a SavedModel, or a serving '
                       'directory of numbered versions (the highest is used)')
  predict.add_argument('images', nargs='+', metavar='IMAGE')
  predict.add_argument('--output-dir', required=True,
                       help='NAME_mask.png (class ids) and NAME_overlay.png go here')
  predict.add_argument('--max-pixels', type=int, default=config_lib.DEFAULT_MAX_PIXELS,
                       help='skip images with more pixels than this (default '
                       f'{config_lib.DEFAULT_MAX_PIXELS:,}); memory grows with it')
  predict.add_argument('--overwrite', action='store_true',
                       help='write over masks and overlays that exist (never over an input)')
  _add_verbose_flag(predict)
  predict.set_defaults(handler=_predict)

  evaluate = commands.add_parser(
      'evaluate', help='score a released model on a dataset of the same classes (JSON)',
      epilog='Arguments after "--" go to Beam, which ingests the data.')
  evaluate.add_argument('--model-dir', required=True, help='as for predict')
  evaluate.add_argument('--dataset', required=True, choices=sorted(sources.SOURCES),
                        help='as for run')
  evaluate.add_argument('--data-dir', required=True)
  evaluate.add_argument('--config', help='dataset settings, as for run')
  evaluate.add_argument('--split', default='test', choices=('train', 'eval', 'test'),
                        help='the split scored; the dataset may hold only that one')
  evaluate.add_argument('--at-own-size', action='store_true',
                        help='score the masks served at each image\'s own size against its '
                        'original mask (default: both at the model\'s image size, as the '
                        'release gate scores)')
  evaluate.add_argument('--follow-symlinks', action='store_true', help='as for run')
  evaluate.add_argument('--max-reject-fraction', type=float, help='as for run (0.05)')
  _add_verbose_flag(evaluate)
  evaluate.set_defaults(handler=_evaluate)
  releases.add_commands(commands, _add_verbose_flag)
  return parser


class _Terminated(BaseException):
  """SIGTERM, raised where the command is, as Ctrl-C raises KeyboardInterrupt."""


def _stop(signum, frame) -> None:
  """Ctrl-C and SIGTERM: their exception, raised until it stops the command
  (console.stop)."""
  del frame  # unused
  console.stop(KeyboardInterrupt() if signum == signal.SIGINT else _Terminated())


# Exit statuses of a command stopped by a signal, as a shell reports them: 128 + the signal.
_INTERRUPTED = {KeyboardInterrupt: 128 + signal.SIGINT, _Terminated: 128 + signal.SIGTERM}


def main(argv: Optional[List[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  beam_args: List[str] = []
  if '--' in argv:
    argv, beam_args = argv[:argv.index('--')], argv[argv.index('--') + 1:]
  args = _parser().parse_args(argv)
  # TFX 1.16 requires Python 3.10, which Google's client libraries warn about at import,
  # once per module; TensorFlow's C++ info lines say nothing a user can act on.
  warnings.filterwarnings('ignore', message='You are using a non-supported Python version')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')
  handlers = {}
  if threading.current_thread() is threading.main_thread():
    handlers = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    if args.command == 'make-sample-data':  # no library that logs
      args.handler(args)
    else:
      # run and predict keep their log in OUTPUT_DIR; the others in a temporary file.
      log_path = (os.path.join(args.output_dir, console.LOG_FILE)
                  if args.command in ('run', 'predict') else None)
      # predict refused (ConfigError: before it writes anything) leaves OUTPUT_DIR as it was.
      refusals = (errors.ConfigError,) if args.command == 'predict' else ()
      with console.session(log_path, verbose=args.verbose, refusals=refusals) as log_path:
        args.handler(args, beam_args, log_path)
  except BaseException as e:  # pylint: disable=broad-except
    # A signal stops the command whatever a library made of its exception on the way
    # (Beam's "RuntimeError: KeyboardInterrupt [while running ...]"). The traceback is in
    # the log. The lock is released; a run resumes where it stopped.
    stop = console.stop_requested() or (
        e if isinstance(e, (KeyboardInterrupt, _Terminated)) else None)
    if stop is not None:
      print('petseg: interrupted; re-run the same command to resume', file=sys.stderr)
      return _INTERRUPTED[type(stop)]
    if isinstance(e, errors.PetsegError):
      # Errors that the user can fix get one clear message; anything else keeps its trace.
      print(f'petseg: error: {e}', file=sys.stderr)
      return 1
    raise
  finally:
    console.forget_stop()
    for signum, handler in handlers.items():
      signal.signal(signum, handler)
  return 0


def entry() -> None:
  """The `petseg` command's entry point: main(), then the exit (storage.exit)."""
  storage.exit(main())


if __name__ == '__main__':
  entry()
