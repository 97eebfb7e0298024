"""`petseg submit` and `petseg schedule`: a run of the compiled pipeline now, or on a cron
schedule, on open-source Kubeflow Pipelines or Vertex AI (kubeflow/submit.py sends them).

The package is the one --package names, else one compiled from the compile flags, else
./pipeline.yaml (what `petseg compile --output pipeline.yaml` writes). Every run is given
the pipeline root (the spec's unless --pipeline-root says) and every run parameter (the
spec's defaults, with --param's), so the request says all that the run will use.
"""
import argparse
import json
import os
import tempfile
from typing import Any, Callable, Sequence

from petseg import console
from petseg.core import errors

DEFAULT_PACKAGE = 'pipeline.yaml'
# What a recurring run promises, as --help says it and the requests set it.
SCHEDULE_PROMISE = ('at most one run at a time (a run still going when the next is due '
                    'delays it), and no catch-up: runs missed while paused or down are '
                    'not started afterwards')
Compile = Callable[..., Any]  # cli._compiled(args, beam_args, say) -> runner.Compiled


def add_flags(parser: argparse.ArgumentParser) -> None:
  """Where to send the run and how (the compile flags are added beside these)."""
  parser.add_argument('--package', metavar='FILE',
                      help='a compiled pipeline (petseg compile\'s .yaml for Kubeflow '
                      'Pipelines, .json for Vertex AI); default: compile one from the '
                      f'compile flags, or else ./{DEFAULT_PACKAGE}')
  parser.add_argument('--host', default=os.environ.get('KF_PIPELINES_ENDPOINT'),
                      help='the Kubeflow Pipelines API, e.g. http://localhost:8888 with '
                      '`kubectl -n kubeflow port-forward svc/ml-pipeline 8888` (default '
                      '$KF_PIPELINES_ENDPOINT)')
  parser.add_argument('--token', default=os.environ.get('KFP_TOKEN'),
                      help='a bearer token for the API, where it asks for one (default '
                      '$KFP_TOKEN)')
  parser.add_argument('--experiment', help='the experiment runs go to (default the '
                      'pipeline\'s name); made if absent')
  parser.add_argument('--name', help='the run\'s name (default PIPELINE-YYYYmmdd-HHMMSS) '
                      'or the schedule\'s (default the pipeline\'s name)')
  parser.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                      help='a run parameter (model_name, epochs, learning_rate, '
                      'min_mean_iou); the others keep the package\'s defaults')
  parser.add_argument('--retrain', action='store_true',
                      help='train even when the data and settings are those of the version '
                      'being served (the run parameter retrain=1; otherwise such a run '
                      'stops after LatestRelease, training nothing)')
  parser.add_argument('--project', help='Vertex AI: the Google Cloud project')
  parser.add_argument('--location', default='us-central1',
                      help='Vertex AI: the region (default us-central1)')
  parser.add_argument('--service-account', default='',
                      help='Vertex AI: the service account the run uses')
  parser.add_argument('--dry-run', action='store_true',
                      help='print the request that would be sent, as the API\'s JSON, and '
                      'send nothing')


def _package(args: argparse.Namespace, beam_args: Sequence[str], compile_fn: Compile):
  """(the package, its target): --package, else compiled from the flags, else ./pipeline.yaml."""
  from petseg.kubeflow import submit  # pylint: disable=g-import-not-at-top
  if args.package or not args.image:
    path = args.package or DEFAULT_PACKAGE
    if not args.package and not os.path.exists(path):
      raise errors.ConfigError(f'--package: give a compiled pipeline (petseg compile '
                               f'--output {DEFAULT_PACKAGE} ...), or --image and the compile '
                               'flags to compile one')
    package = submit.Package.load(path)
    console.error(f'Package: {path} ({package.spec["pipelineInfo"].get("description", "")})')
    return package, package.target
  if not args.dataset:
    raise errors.ConfigError('--dataset: required to compile (or give --package)')
  args.output = args.output or os.path.join(
      tempfile.mkdtemp(prefix='petseg-'), 'pipeline.json' if args.target == 'vertex'
      else 'pipeline.yaml')
  compiled = compile_fn(args, beam_args, console.error)
  return submit.Package.load(compiled.path), args.target


def _submission(args: argparse.Namespace, package, default_name: str):
  from petseg.kubeflow import submit  # pylint: disable=g-import-not-at-top
  given = {}
  for item in args.param:
    name, equals, value = item.partition('=')
    if not equals:
      raise errors.ConfigError(f'--param {item}: expected NAME=VALUE')
    given[name] = value
  if args.retrain:
    given['retrain'] = '1'
  parameters = package.parameters(given)
  root = args.pipeline_root or package.spec.get('defaultPipelineRoot')
  if not root:
    raise errors.ConfigError(f'--pipeline-root: {package.path} carries none; give one')
  return submit.Submission(package, parameters, root, args.experiment or package.name,
                           args.name or default_name)


def _kfp(args: argparse.Namespace):
  from petseg.kubeflow import submit  # pylint: disable=g-import-not-at-top
  if not args.host:
    raise errors.ConfigError('--host: the Kubeflow Pipelines API is required (or set '
                             'KF_PIPELINES_ENDPOINT)')
  return submit.KfpApi(args.host, args.token, args.namespace or '')


def _vertex_place(args: argparse.Namespace):
  if not args.project:
    raise errors.ConfigError('--project: required for Vertex AI')
  return args.project, args.location


def _print_json(value: Any) -> None:
  console.say(json.dumps(value, indent=2, sort_keys=True))


def submit_command(args: argparse.Namespace, beam_args: Sequence[str], log_path: str,
                   compile_fn: Compile) -> None:
  from petseg.kubeflow import submit  # pylint: disable=g-import-not-at-top
  package, target = _package(args, beam_args, compile_fn)
  submission = _submission(args, package, submit.default_run_name(package.name))
  if target == 'vertex':
    project, location = _vertex_place(args)
    if args.dry_run:
      console.error('Dry run: would send to Vertex AI\'s CreatePipelineJob:')
      _print_json(submit.vertex_job(submission, project, location, args.service_account))
      return
    name, url = submit.vertex_submit(submission, project, location, args.service_account)
    console.say(f'Run {name}: {url}')
  else:
    if args.dry_run:
      console.error(f'Dry run: would upload {package.path} as version '
                    f'{package.version_name} of pipeline {package.name}, then POST '
                    '/apis/v2beta1/runs with:')
      _print_json(submit.api_json(submit.kfp_run(
          submission, f'<id of experiment {submission.experiment}>',
          submit.placeholder_version(package))))
      return
    api = _kfp(args)
    run = api.create_run(submit.kfp_run(submission, api.experiment_id(submission.experiment),
                                        api.pipeline_version(package)))
    console.say(f'Run {run.run_id} ({submission.display_name}): {api.run_url(run.run_id)}')
  console.error(f'Pipeline root {submission.pipeline_root}; parameters '
                + ', '.join(f'{k}={v}' for k, v in sorted(submission.parameters.items())))
  console.error(f'Log: {log_path}')


def schedule_command(args: argparse.Namespace, beam_args: Sequence[str], log_path: str,
                     compile_fn: Compile) -> None:
  from petseg.kubeflow import submit  # pylint: disable=g-import-not-at-top
  changes = [a for a in ('pause', 'resume', 'delete') if getattr(args, a)]
  if sum(bool(x) for x in (args.cron, args.list, *changes)) != 1:
    raise errors.ConfigError('give one of --cron EXPR, --list, --pause NAME, --resume NAME '
                             'or --delete NAME')
  if args.cron:
    _create_schedule(args, beam_args, compile_fn)
  elif args.target == 'vertex':
    project, location = _vertex_place(args)
    if args.list:
      for found in submit.vertex_schedules(project, location):
        console.say(f'{found.display_name}\t{found.resource_name}\t{found.cron}\t'
                    f'{found.state.name.lower()}')
    else:
      action = changes[0]
      name = submit.vertex_change(getattr(args, action), action, project, location)
      console.say(f'{action}: {name}')
  else:
    api = _kfp(args)
    if args.list:
      runs = api.recurring_runs()
      for run in runs:
        cron = run.trigger.cron_schedule.cron if run.trigger and run.trigger.cron_schedule else ''
        console.say(f'{run.display_name}\t{run.recurring_run_id}\t{cron}\t'
                    f'{"enabled" if run.mode == "ENABLE" else "paused"}')
      console.error(f'{len(runs)} recurring runs at {api.host}')
    else:
      action = changes[0]
      run = api.change(getattr(args, action), action)
      console.say(f'{ {"pause": "Paused", "resume": "Resumed", "delete": "Deleted"}[action]} '
                  f'recurring run {run.display_name} ({run.recurring_run_id})')
  console.error(f'Log: {log_path}')


def _create_schedule(args: argparse.Namespace, beam_args: Sequence[str],
                     compile_fn: Compile) -> None:
  from petseg.kubeflow import submit  # pylint: disable=g-import-not-at-top
  cron = submit.checked_cron(args.cron)
  package, target = _package(args, beam_args, compile_fn)
  submission = _submission(args, package, package.name)
  if target == 'vertex':
    project, location = _vertex_place(args)
    if args.dry_run:
      console.error('Dry run: would send to Vertex AI\'s CreateSchedule:')
      _print_json(submit.vertex_schedule(submission, cron, project, location,
                                         args.service_account))
      return
    name = submit.vertex_schedule_create(submission, cron, project, location,
                                         args.service_account)
    console.say(f'Schedule {name}: "{cron}" UTC, {SCHEDULE_PROMISE}')
    return
  if args.dry_run:
    console.error(f'Dry run: would upload {package.path} as version {package.version_name} '
                  f'of pipeline {package.name}, then POST /apis/v2beta1/recurringruns with:')
    _print_json(submit.api_json(submit.kfp_recurring_run(
        submission, cron, f'<id of experiment {submission.experiment}>',
        submit.placeholder_version(package))))
    return
  api = _kfp(args)
  run = api.create_recurring_run(submit.kfp_recurring_run(
      submission, cron, api.experiment_id(submission.experiment), api.pipeline_version(package)))
  console.say(f'Recurring run {run.display_name} ({run.recurring_run_id}): "{cron}" UTC, '
              f'{SCHEDULE_PROMISE}; {api.recurring_run_url(run.recurring_run_id)}')
