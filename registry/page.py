"""The release registry's page (release_registry.INDEX_FILE): its versions, newest first,
with links to each one's model card and report, and the decision log below them, newest
first. Links are relative, so the page works wherever the serving directory is opened or
copied."""
import html
import os
from typing import Optional, Sequence

from petseg.core import comparison as comparison_lib
from petseg.core import storage
from petseg.core import text
from petseg.registry import log as release_log

_CSS = ('body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;'
        'margin-bottom:2em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}'
        '.serving{background:#e6f4ea;font-weight:bold}.retired{color:#888}'
        '.refused,.not-pushed{background:#fdecea}')


def _cell(value: str) -> str:
  """A record's text in a cell: markup escaped, control characters written out."""
  return html.escape(text.shown(value))


def _link(base_directory: str, path: Optional[str], text: str) -> str:
  """A link to `path`: relative inside the serving directory (so it works wherever the
  page is opened from), file:// for another local path, the path as text elsewhere."""
  if not path:
    return ''
  if path.startswith(base_directory.rstrip('/') + '/'):
    href = path[len(base_directory.rstrip('/')) + 1:]
  elif storage.of(path).local:
    href = f'file://{os.path.abspath(path)}'
  else:
    return html.escape(path)
  return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _versions_table(base_directory: str, releases: Sequence) -> str:
  head = ''.join(f'<th>{h}</th>' for h in (
      'version', 'status', 'released at', 'model', 'test mean IoU [95% interval]',
      'verdict', 'data', 'run', 'model card', 'report'))
  rows = []
  for r in releases:
    verdict = (r.verdict or '') + (f' (against {r.compared_with})' if r.compared_with else '')
    cells = (
        [str(r.version), r.status, r.released_at or '', r.model or '',
         comparison_lib.shown(r.mean_iou, r.interval, missing=''),
         verdict, (r.data_fingerprint or '')[:12], r.pipeline_run or '']
        if not r.problem else [str(r.version), r.status, r.problem, '', '', '', '', ''])
    rows.append(f'<tr class="{html.escape(r.status)}" id="v{r.version}">'
                + ''.join(f'<td>{_cell(c)}</td>' for c in cells)
                + f'<td>{_link(base_directory, r.model_card, "card")}</td>'
                f'<td>{_link(base_directory, r.report, "report")}</td></tr>')
  return f'<table id="versions"><tr>{head}</tr>{"".join(rows)}</table>'


def _log_table(base_directory: str, decisions: Sequence[release_log.Decision]) -> str:
  head = ''.join(f'<th>{h}</th>' for h in (
      'time', 'action', 'decision', 'by', 'run', 'model', 'test mean IoU', 'compared with',
      'data', 'settings', 'reasons', 'report'))
  rows = []
  for d in reversed(decisions):
    cells = [d.time, d.action, d.what(), d.by, d.pipeline_run or '', d.model or '',
             comparison_lib.shown(d.mean_iou, missing=''),
             str(d.baseline) if d.baseline else '', (d.data_fingerprint or '')[:12],
             (d.config_fingerprint or '')[:12], '; '.join(d.reasons)]
    rows.append(f'<tr class="{d.action.replace(" ", "-")}">'
                + ''.join(f'<td>{_cell(c)}</td>' for c in cells)
                + f'<td>{_link(base_directory, d.report, "report")}</td></tr>')
  return f'<table id="log"><tr>{head}</tr>{"".join(rows)}</table>'


def page(base_directory: str, releases: Sequence, served: Optional[int],
         log: release_log.Log) -> str:
  """The page: release_manager.releases(), the version served, release_log.read()."""
  damaged = ''.join(f'<p class="refused">{_cell(line)}</p>' for line in log.damaged)
  title = f'Release registry: {base_directory}'
  return ('<!doctype html><html><head><meta charset="utf-8">'
          f'<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>'
          f'<h1>{html.escape(title)}</h1>'
          f'<p>Served (the highest complete version): '
          f'{served if served is not None else "none"}. Written at every push, refusal, '
          'rollback and restore; <code>petseg releases</code> lists the same.</p>'
          '<h2>Versions</h2>' + _versions_table(base_directory, releases)
          + '<h2>Decision log</h2>' + damaged + _log_table(base_directory, log.decisions)
          + '</body></html>')
