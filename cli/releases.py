"""The release manager's commands on a serving directory (the release registry):

  petseg releases --serving-dir DIR [--all] [--json]   every version; --all: the log too
  petseg releases show N --serving-dir DIR             one version in brief
  petseg rollback --serving-dir DIR [--to N] --reason TEXT
  petseg restore N --serving-dir DIR [--reason TEXT]

DIR is a local path, gs:// or s3://. The work is registry/manager.py's.
"""
import argparse
import json
from typing import Any, List, Sequence

from petseg import console
from petseg.core import comparison as comparison_lib
from petseg.core import errors
from petseg.core import storage
from petseg.core import text

_HEAD = ('version', 'status', 'released at', 'model', 'test mean IoU [95%]', 'verdict',
         'data', 'run')


def _row(release) -> List[str]:
  if release.problem:
    return [str(release.version), release.status, release.problem]
  verdict = (release.verdict or '') + (
      f' vs {release.compared_with}' if release.compared_with else '')
  return [str(release.version), release.status, release.released_at or '',
          release.model or '',
          comparison_lib.shown(release.mean_iou, release.interval, missing=''),
          verdict, (release.data_fingerprint or '')[:12], release.pipeline_run or '']


def _table(rows: Sequence[Sequence[str]]) -> List[str]:
  """Columns as wide as their widest cell; a row's last cell runs on."""
  widths = [max((len(r[i]) for r in rows if i < len(r) - 1), default=0)
            for i in range(max(map(len, rows)))]
  return ['  '.join(cell.ljust(widths[i]) if i < len(row) - 1 else cell
                    for i, cell in enumerate(row)).rstrip() for row in rows]


def _decision_line(d) -> str:
  run = (f' run {d.pipeline_run} ({d.model}, test mean IoU {comparison_lib.shown(d.mean_iou)}'
         + (f', against {d.baseline}' if d.baseline else '') + ')'
         if d.pipeline_run else '')
  more = f' (and {len(d.reasons) - 1} more: --json)' if len(d.reasons) > 1 else ''
  return f'{d.time}  {d.what()}  by {d.by}{run}' + (f': {d.reasons[0]}{more}'
                                                    if d.reasons else '')


def _read_log(serving_dir: str):
  """The registry's decision log (registry/log.Log), a warning said for each record that
  does not read."""
  from petseg.registry import log as release_log  # pylint: disable=g-import-not-at-top
  log = release_log.read(serving_dir)
  for line in log.damaged:
    console.error(f'warning: {line}')
  return log


def _list(args: argparse.Namespace, serving_dir: str) -> None:
  from petseg.registry import manager as release_manager  # pylint: disable=g-import-not-at-top
  found = release_manager.releases(serving_dir)
  log = _read_log(serving_dir)
  decisions = log.decisions
  if args.json:
    output: Any = {'serving_dir': serving_dir,
                   'versions': [r.to_json() for r in found]}
    if args.all:
      output['log'] = [d.to_json() for d in decisions]
      output['damaged_log_records'] = log.damaged
    console.say(json.dumps(output, indent=2))
    return
  if not found:
    console.say(f'No versions in {serving_dir}')
  else:
    for line in _table([_HEAD, *map(_row, found)]):
      console.say(text.shown(line))
  if args.all:
    console.say(f'Decision log ({len(decisions)}), oldest first:')
    for d in decisions:
      console.say(text.shown('  ' + _decision_line(d)))
  elif decisions:
    console.say(f'{len(decisions)} decisions in the log: petseg releases --all shows them')


def _show(serving_dir: str, version: int) -> None:
  from petseg.registry import manager as release_manager  # pylint: disable=g-import-not-at-top
  release = next((r for r in release_manager.releases(serving_dir)
                  if r.version == version), None)
  if release is None:
    raise errors.ReleaseError(f'{serving_dir}: there is no version {version}')
  lines = [f'Version    {release.version} ({release.status})  {release.path}']
  if release.problem:
    lines.append(f'Problem    {release.problem}')
  else:
    lines += [
        f'Released   {release.released_at} by run {release.pipeline_run}',
        f'Model      {release.model}',
        f'Test       mean IoU {comparison_lib.shown(release.mean_iou, release.interval)}',
        f'Verdict    {release.verdict}' + (f' against version {release.compared_with}'
                                          if release.compared_with else ''),
        *([f'Precision  {release.precision}'] if release.precision else []),
        f'Data       {release.data_fingerprint}',
        f'Settings   {release.config_fingerprint}',
        f'Card       {release.model_card or "none"}',
        f'Report     {release.report or "none (released before reports were kept)"}']
  history = [d for d in _read_log(serving_dir).decisions if d.version == version or version in d.versions]
  lines += [f'Log        {_decision_line(d)}' for d in history]
  for line in lines:  # a record's free text (reasons) shown as one line each
    console.say(text.shown(line))


def _serving_dir(args: argparse.Namespace) -> str:
  """--serving-dir as this process opens it (minio:// as s3://), its file system ready."""
  return storage.openable(storage.reachable(args.serving_dir, '--serving-dir'))


def _releases(args: argparse.Namespace, beam_args: Sequence[str], log_path: str) -> None:
  del beam_args, log_path  # no Beam; nothing worth a log
  serving_dir = _serving_dir(args)
  words = args.words
  if not words:
    _list(args, serving_dir)
  elif len(words) == 2 and words[0] == 'show' and words[1].isascii() and words[1].isdigit():
    _show(serving_dir, int(words[1]))
  else:
    raise errors.ConfigError(f'releases: expected nothing or "show N", got {" ".join(words)!r}')


def _rollback(args: argparse.Namespace, beam_args: Sequence[str], log_path: str) -> None:
  del beam_args, log_path
  from petseg.registry import manager as release_manager  # pylint: disable=g-import-not-at-top
  serving_dir = _serving_dir(args)
  decision = release_manager.rollback(serving_dir, args.reason, to=args.to)
  retired = ', '.join(map(str, decision.versions))
  console.say(f'Rolled back {serving_dir}: version {decision.version} is served now; '
              f'retired {retired} (kept in {serving_dir}/.retired). Undo: petseg '
              f'restore {max(decision.versions)} --serving-dir {args.serving_dir}')


def _restore(args: argparse.Namespace, beam_args: Sequence[str], log_path: str) -> None:
  del beam_args, log_path
  from petseg.registry import manager as release_manager  # pylint: disable=g-import-not-at-top
  serving_dir = _serving_dir(args)
  decision = release_manager.restore(serving_dir, args.version, args.reason or '')
  console.say(f'Restored {", ".join(map(str, decision.versions))} in {serving_dir}: '
              f'version {decision.version} is served now')


def add_commands(commands, add_verbose_flag) -> None:
  """Adds releases, rollback and restore to the `petseg` command's subparsers."""
  help_dir = 'the serving directory (local, gs:// or s3://)'
  releases = commands.add_parser(
      'releases', help='list the versions of a serving directory (the release registry)',
      description='petseg releases --serving-dir DIR [--all] [--json]; '
      'petseg releases show N --serving-dir DIR')
  releases.add_argument('words', nargs='*', metavar='show N',
                        help='show version N in brief, and where its card and report are')
  releases.add_argument('--serving-dir', required=True, help=help_dir)
  releases.add_argument('--all', action='store_true',
                        help='and the decision log: every release, refusal, rollback and '
                        'restore')
  releases.add_argument('--json', action='store_true', help='as JSON, for scripts')
  add_verbose_flag(releases)
  releases.set_defaults(handler=_releases)

  rollback = commands.add_parser(
      'rollback', help='retire the versions above N, so that TF Serving serves N')
  rollback.add_argument('--serving-dir', required=True, help=help_dir)
  rollback.add_argument('--to', type=int, metavar='N',
                        help='the version to serve (default: the one below the served one)')
  rollback.add_argument('--reason', required=True, help='why, for the log')
  add_verbose_flag(rollback)
  rollback.set_defaults(handler=_rollback)

  restore = commands.add_parser(
      'restore', help='bring a retired version back (with those its rollback retired below '
      'it)')
  restore.add_argument('version', type=int, metavar='N')
  restore.add_argument('--serving-dir', required=True, help=help_dir)
  restore.add_argument('--reason', help='why, for the log')
  add_verbose_flag(restore)
  restore.set_defaults(handler=_restore)
