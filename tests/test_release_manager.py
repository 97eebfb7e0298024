"""The release registry as release managers drive it: list, show, roll back, restore, the
decision log and the index page, safe with several writers, on a local disk and on S3."""
import dataclasses
import errno
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import time

import boto3
from PIL import Image
import pytest
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.core.protobuf import saved_model_pb2

from petseg import cli
from petseg.components.pusher import executor as serving_pusher
from petseg.core import comparison as comparison_lib
from petseg.core import errors
from petseg.core import s3_lock
from petseg.records import summary as run_summary
from petseg.registry import log as release_log
from petseg.registry import manager as release_manager
from petseg.registry import versions as release_registry
from tests import helpers
from tests import s3_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRST = helpers.run_summary_of()


def _compared_with(version, run='run-2', **changes):
  """A run summary of a model evaluated against `version`, blessed."""
  return dataclasses.replace(
      FIRST, pipeline_run=run, baseline=run_summary.Baseline(version, f'/s/{version}', 0.6),
      comparison=comparison_lib.Comparison(
          comparison_lib.Difference('overall', 'mean_iou', 0.6, 0.6, 0.0, (-0.02, 0.02), 0.05,
                                    300, 40), (), {'max_mean_iou_drop': 0.05}), **changes)


def _model(path, weights):
  """A SavedModel's files (a graph that parses, so a version passes check_version), with
  `weights` as its variables."""
  os.makedirs(os.path.join(path, 'variables'), exist_ok=True)
  with open(os.path.join(path, 'saved_model.pb'), 'wb') as f:
    f.write(saved_model_pb2.SavedModel(
        meta_graphs=[meta_graph_pb2.MetaGraphDef()]).SerializeToString())
  with open(os.path.join(path, 'variables', 'variables.index'), 'w') as f:
    f.write(weights)
  return str(path)


def _two_versions(tmp_path):
  serving = str(tmp_path / 'serving')
  assert serving_pusher.publish(_model(tmp_path / 'm1', 'one'), serving, FIRST) == '1'
  assert serving_pusher.publish(_model(tmp_path / 'm2', 'two'), serving,
                                _compared_with(1)) == '2'
  return serving


def _cli(capsys, *args):
  code = cli.main(list(args))
  out, err = capsys.readouterr()
  return code, out, err


def test_push_list_roll_back_to_1_and_restore(tmp_path, capsys):
  serving = _two_versions(tmp_path)
  code, out, _ = _cli(capsys, 'releases', '--serving-dir', serving)
  assert code == 0
  lines = out.splitlines()
  assert lines[0].split() == ['version', 'status', 'released', 'at', 'model', 'test', 'mean',
                              'IoU', '[95%]', 'verdict', 'data', 'run']
  assert re.match(r'2 +serving +\S+ +unet_xception +0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] +no '
                  r'detectable change vs 1 +[0-9a-f]{12} +run-2$', lines[1]), lines[1]
  assert re.match(r'1 +available +.* first release +[0-9a-f]{12} +run-1$', lines[2])
  assert lines[3] == '2 decisions in the log: petseg releases --all shows them'

  code, out, _ = _cli(capsys, 'rollback', '--serving-dir', serving, '--to', '1', '--reason',
                      'v2 misclassifies cats in production')
  assert code == 0
  assert out == (f'Rolled back {serving}: version 1 is served now; retired 2 (kept in '
                 f'{serving}/.retired). Undo: petseg restore 2 --serving-dir {serving}\n')
  # What TF Serving's default policy sees: version 1 alone; the next run's baseline is 1.
  assert release_registry.versions(serving) == [1]
  assert release_registry.newest_release(serving) == 1
  assert release_registry.state(serving).startswith('1:')  # LatestRelease runs again
  assert release_registry.retired_versions(serving) == [2]
  assert release_registry.ignored_entries(serving) == []  # nothing for LatestRelease to warn
  code, out, _ = _cli(capsys, 'releases', '--serving-dir', serving, '--json', '--all')
  listed = json.loads(out)
  assert [(v['version'], v['status']) for v in listed['versions']] == [
      (2, 'retired'), (1, 'serving')]
  assert listed['versions'][0]['path'] == os.path.join(serving, '.retired', '2')
  rollback = listed['log'][-1]
  assert rollback['action'] == 'rollback' and rollback['versions'] == [2]
  assert rollback['version'] == 1 and rollback['reasons'] == [
      'v2 misclassifies cats in production']
  assert re.fullmatch(r'[^@]+@.+', rollback['by'])

  # A push while 2 is retired takes 3: numbers are never used twice.
  assert serving_pusher.publish(_model(tmp_path / 'm3', 'three'), serving,
                                _compared_with(1, 'run-3')) == '3'
  code, out, _ = _cli(capsys, 'rollback', '--serving-dir', serving, '--reason', 'no, 1 it is')
  assert code == 0 and 'version 1 is served now; retired 3' in out  # default: the one below

  code, out, _ = _cli(capsys, 'restore', '2', '--serving-dir', serving, '--reason', 'fixed')
  assert (code, out) == (0, f'Restored 2 in {serving}: version 2 is served now\n')
  assert release_registry.versions(serving) == [1, 2]
  assert release_registry.retired_versions(serving) == [3]
  actions = [(d.action, d.version, d.versions)
             for d in release_log.read(serving).decisions]
  assert actions == [('released', 1, []), ('released', 2, []), ('rollback', 1, [2]),
                     ('released', 3, []), ('rollback', 1, [3]), ('restore', 2, [2])]
  # A version deleted by hand keeps its number: the log says it was released.
  shutil.rmtree(os.path.join(serving, '.retired', '3'))
  assert release_manager.next_version(serving) == 4


def test_restoring_the_highest_undoes_its_whole_rollback_but_not_an_older_one(tmp_path):
  serving = _two_versions(tmp_path)
  release_manager.rollback(serving, 'bad', to=1)  # retires 2
  serving_pusher.publish(_model(tmp_path / 'm3', 'three'), serving, _compared_with(1))
  serving_pusher.publish(_model(tmp_path / 'm4', 'four'), serving, _compared_with(3))
  assert release_manager.rollback(serving, 'both bad', to=1).versions == [3, 4]
  restored = release_manager.restore(serving, 4)
  assert (restored.versions, restored.version, restored.reasons) == ([3, 4], 4, [])
  assert release_registry.versions(serving) == [1, 3, 4]
  assert release_registry.retired_versions(serving) == [2]  # retired by another rollback


def test_the_release_manager_is_told_what_cannot_be_done(tmp_path, capsys):
  missing = str(tmp_path / 'nowhere')
  for args in (['releases'], ['rollback', '--reason', 'x'], ['restore', '1']):
    code, out, err = _cli(capsys, *args, '--serving-dir', missing)
    assert (code, out, err) == (1, '', f'petseg: error: {missing}: no such serving '
                                'directory\n')
  serving = str(tmp_path / 'serving')
  serving_pusher.publish(_model(tmp_path / 'm1', 'one'), serving, FIRST)
  os.makedirs(os.path.join(serving, '5'))  # being written: no saved_model.pb yet
  said = {
      ('rollback', '--reason', 'x'): 'version 1 is the only one served; there is nothing '
                                     'older to roll back to',
      ('rollback', '--to', '1', '--reason', 'x'): 'version 1 is served already; nothing was '
                                                  'changed',
      ('rollback', '--to', '7', '--reason', 'x'): 'cannot roll back to version 7: there is '
                                                  'no such version',
      ('rollback', '--to', '5', '--reason', 'x'): 'cannot roll back to version 5: it is '
                                                  'incomplete (no saved_model.pb)',
      ('restore', '1'): 'version 1 is not retired: it is in sight already; nothing was '
                        'changed',
      ('releases', 'show', '9'): 'there is no version 9',
  }
  for args, message in said.items():
    code, out, err = _cli(capsys, *args, '--serving-dir', serving)
    assert (code, out, err) == (1, '', f'petseg: error: {serving}: {message}\n'), args
  code, _, err = _cli(capsys, 'rollback', '--serving-dir', serving, '--reason', ' ')
  assert (code, err) == (1, 'petseg: error: a rollback needs a reason (--reason), for the '
                         'log\n')
  code, _, err = _cli(capsys, 'releases', 'shw', '1', '--serving-dir', serving)
  assert err == 'petseg: error: releases: expected nothing or "show N", got \'shw 1\'\n'
  with open(os.path.join(serving, '.log', '20990101T000000000000Z-x.json'), 'w') as f:
    f.write('{"action": ')
  # A damaged log record is named, one line, and the rest of the registry still works.
  damaged = f'{serving}/.log/20990101T000000000000Z-x.json: not a decision record ('
  for args in (('releases', '--all'), ('releases', 'show', '1')):
    code, out, err = _cli(capsys, *args, '--serving-dir', serving)
    assert code == 0 and err.startswith(f'warning: {damaged}'), args
    assert err.count('\n') == 1 and out
  code, _, err = _cli(capsys, 'rollback', '--serving-dir', serving, '--to', '1', '--reason',
                      'x')
  assert code == 1 and 'version 1 is served already' in err
  with open(os.path.join(serving, release_registry.INDEX_FILE)) as f:
    assert '20990101T000000000000Z-x.json: not a decision record' not in f.read()
  release_manager.refresh_index(serving)
  with open(os.path.join(serving, release_registry.INDEX_FILE)) as f:
    assert '20990101T000000000000Z-x.json: not a decision record' in f.read()


def test_show_says_where_the_card_and_report_are_and_the_versions_history(tmp_path, capsys):
  report = tmp_path / 'report.html'
  report.write_text('<html>the run report</html>')
  serving = str(tmp_path / 'serving')
  serving_pusher.publish(_model(tmp_path / 'm1', 'one'), serving, dataclasses.replace(
      FIRST, report=str(report)))
  release_manager.log(serving, release_log.of_run(release_log.REFUSED, _compared_with(
      1, 'run-9', reasons=['mean_iou 0.300 is below the lower bound 0.400 by 0.100'])))
  code, out, _ = _cli(capsys, 'releases', 'show', '1', '--serving-dir', serving)
  assert code == 0
  version = os.path.join(serving, '1')
  assert f'Version    1 (serving)  {version}' in out
  assert f'Card       {version}/assets.extra/model_card.html' in out
  assert f'Report     {version}/assets.extra/report.html' in out
  # The record's own sentence, as the run, its report and its card say it.
  assert ('Precision  With 300 test images, the mean IoU is known to \u00b10.050 (95%); the '
          'drop the gate would refuse is measured once a model has been released.') in out
  with open(os.path.join(version, 'assets.extra', 'report.html')) as f:
    assert f.read() == '<html>the run report</html>'  # kept with the version
  assert re.search(r'Log +\S+ +released as version 1 +by \S+ run run-1 \(unet_xception, test '
                   r'mean IoU 0\.\d{3}\)', out)
  assert 'refused' not in out  # run-9's refusal is not about version 1
  code, out, _ = _cli(capsys, 'releases', '--all', '--serving-dir', serving)
  assert re.search(r'refused +by \S+ run run-9 \(unet_xception, test mean IoU 0\.\d{3}, '
                   r'against 1\): mean_iou 0\.300 is below the lower bound 0\.400 by 0\.100',
                   out), out


def _chromium():
  for name in ('chromium', 'chromium-browser', 'google-chrome'):
    if shutil.which(name):
      return shutil.which(name)
  pytest.skip('no Chromium here (scripts/test.sh installs Debian\'s)')


class _Tables(html.parser.HTMLParser):
  """The text of each cell of each table (by id), and every link, of a page."""

  def __init__(self):
    super().__init__()
    self.tables, self.links, self._table = {}, [], None

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    if tag == 'table':
      self._table = self.tables.setdefault(attrs.get('id'), [])
    elif tag == 'tr' and self._table is not None:
      self._table.append([])
    elif tag in ('td', 'th') and self._table is not None:
      self._table[-1].append('')
    elif tag == 'a':
      self.links.append(attrs['href'])

  def handle_endtag(self, tag):
    if tag == 'table':
      self._table = None

  def handle_data(self, data):
    if self._table and self._table[-1]:
      self._table[-1][-1] += data


def test_the_index_page_renders_the_versions_and_the_log_in_a_browser(tmp_path):
  serving = _two_versions(tmp_path)
  release_manager.rollback(serving, 'v2 <breaks> & "quotes"', to=1)
  release_manager.log(serving, release_log.of_run(release_log.REFUSED, _compared_with(
      1, 'run-9', reasons=['too weak'])))
  page = os.path.join(serving, 'index.html')
  browser = [_chromium(), '--headless', '--no-sandbox', '--disable-gpu',
             f'--user-data-dir={tmp_path / "profile"}']
  dom = subprocess.run([*browser, '--dump-dom', f'file://{page}'], capture_output=True,
                       text=True, timeout=120, check=True).stdout
  parsed = _Tables()
  parsed.feed(dom)

  def rows(table_id):
    return parsed.tables[table_id][1:]  # after the header

  versions = rows('versions')
  assert [r[:2] for r in versions] == [['2', 'retired'], ['1', 'serving']]
  assert versions[0][5] == 'no detectable change (against 1)'
  assert versions[1][8] == 'card'
  links = parsed.links
  assert '1/assets.extra/model_card.html' in links
  assert '.retired/2/assets.extra/model_card.html' in links
  for link in links:
    assert os.path.exists(os.path.join(serving, link)), link  # every link resolves
  log = rows('log')  # newest first
  assert [r[1] for r in log] == ['refused', 'rollback', 'released', 'released']
  assert log[0][10] == 'too weak' and log[1][10] == 'v2 <breaks> & "quotes"'
  assert log[1][2] == 'rollback to version 1 (retired 2)'
  shot = tmp_path / 'page.png'
  subprocess.run([*browser, f'--screenshot={shot}', '--window-size=1200,700',
                  f'file://{page}'], capture_output=True, timeout=120, check=True)
  pixels = Image.open(shot).convert('L')
  assert pixels.size == (1200, 700)
  low, high = pixels.getextrema()
  assert low < 100 < high  # text on the page, not a blank or error screen


_PUSHES = """
import sys
from petseg.components.pusher import executor as serving_pusher
from petseg.core import comparison as comparison_lib
from petseg.core import errors
from petseg.registry import versions as release_registry
from tests import helpers, test_release_manager as t
serving, work = sys.argv[1], sys.argv[2]
for i in range(int(sys.argv[3])):
  baseline = release_registry.newest_release(serving)
  model = t._model(f'{work}/m{i}', f'weights {i}')
  try:
    serving_pusher.publish(model, serving, t._compared_with(baseline, f'run-{i}'))
  except errors.ReleaseError as e:  # a rollback came between: refused, and logged
    assert 'changed the registry meanwhile' in str(e), e
"""


def test_rollbacks_racing_pushes_leave_a_consistent_registry(tmp_path):
  serving = _two_versions(tmp_path)
  pushes = subprocess.Popen([sys.executable, '-c', _PUSHES, serving, str(tmp_path), '12'],
                            cwd=ROOT)
  rolled = 0
  while pushes.poll() is None:
    try:
      release_manager.rollback(serving, f'race {rolled}', to=1)
      rolled += 1
    except errors.ReleaseError:
      time.sleep(0.05)  # version 1 is served already: nothing pushed since
  assert pushes.wait() == 0
  if release_registry.newest_release(serving) != 1:  # a push after the last rollback
    release_manager.rollback(serving, 'the last', to=1)
    rolled += 1
  assert rolled >= 2
  entries = os.listdir(serving)
  assert not [n for n in entries if n.startswith('.staging')]
  visible = release_registry.versions(serving)
  retired = release_registry.retired_versions(serving)
  assert not set(visible) & set(retired) and visible == [1]
  decisions = release_log.read(serving).decisions
  released = [d.version for d in decisions if d.action == 'released']
  assert released == sorted(set(released))  # every number once, in order
  assert sorted(visible + retired) == released
  assert sum(d.action == 'rollback' for d in decisions) == rolled
  assert {d.action for d in decisions} <= {'released', 'rollback', 'not pushed'}
  # Replaying the log gives what is served: each decision saw the one before it.
  served = None
  for d in decisions:
    if d.action == 'not pushed':
      continue
    if d.action == 'rollback':
      assert d.versions and min(d.versions) > d.version == 1
    served = d.version
  assert served == release_registry.newest_release(serving) == 1


_S3_PUSHES = """
import sys
from petseg.core import storage
storage.register()
from petseg.components.pusher import executor as serving_pusher
from tests import test_release_manager as t
serving, work = sys.argv[1], sys.argv[2]
serving_pusher.publish(t._model(f'{work}/m1', 'one'), serving, t.FIRST)
serving_pusher.publish(t._model(f'{work}/m2', 'two'), serving, t._compared_with(1))
storage.exit(0)
"""


def test_on_s3_a_rollback_and_a_restore_move_whole_versions(s3, tmp_path):
  env, client = s3
  client.create_bucket(Bucket='registry')
  serving = 's3://registry/serving'
  environment = {**os.environ, **env}

  def petseg(*args):
    return subprocess.run([sys.executable, '-m', 'petseg.cli', *args], env=environment,
                          capture_output=True, text=True, cwd=ROOT, timeout=300)

  subprocess.run([sys.executable, '-c', _S3_PUSHES, serving, str(tmp_path)], env=environment,
                 check=True, cwd=ROOT, timeout=300)
  done = petseg('rollback', '--serving-dir', serving, '--to', '1', '--reason', 'bad')
  assert done.returncode == 0, done.stderr
  keys = {o['Key'] for o in client.list_objects_v2(Bucket='registry')['Contents']}
  assert not [k for k in keys if k.startswith('serving/2/')]
  assert 'serving/.retired/2/saved_model.pb' in keys
  assert 'serving/.retired/2/assets.extra/release.json' in keys
  assert 'serving/index.html' in keys
  done = petseg('restore', '2', '--serving-dir', serving)
  assert done.returncode == 0, done.stderr
  listed = json.loads(petseg('releases', '--serving-dir', serving, '--json', '--all').stdout)
  assert [(v['version'], v['status']) for v in listed['versions']] == [
      (2, 'serving'), (1, 'available')]
  assert [d['action'] for d in listed['log']] == ['released', 'released', 'rollback',
                                                  'restore']


def test_on_s3_the_lock_is_created_only_if_absent_and_taken_over_when_stale(
    s3, tmp_path, monkeypatch):
  env, client = s3
  for name, value in env.items():
    monkeypatch.setenv(name, value)
  client.create_bucket(Bucket='locked')
  serving = 's3://locked/serving'
  lock = f'{serving}/{release_registry.LOCK_FILE}'
  with s3_lock.held(lock, 'the test'):
    # While the test holds it, a second holder waits, then is told who holds it.
    with pytest.raises(errors.ReleaseError, match=r'^s3://locked/serving/'
                       r'\.petseg-registry\.lock: the release registry is locked by the '
                       r'test; nothing was changed: try again when it is done$'):
      with s3_lock.held(lock, 'another', wait_seconds=2):
        pass
  assert 'Contents' not in client.list_objects_v2(Bucket='locked')  # released: deleted
  # A lock whose holder died (never renewed) is taken over once its lease is over.
  client.put_object(Bucket='locked', Key='serving/.petseg-registry.lock',
                    Body=b'{"holder": "a process that died"}')
  monkeypatch.setattr(s3_lock, 'LEASE_SECONDS', 1.0)
  time.sleep(2.5)
  with s3_lock.held(lock, 'the test', wait_seconds=10):
    body = client.get_object(Bucket='locked', Key='serving/.petseg-registry.lock')['Body']
    assert json.loads(body.read()) == {'holder': 'the test'}
  # A holder renews its lease while it works, so a long push is not taken over.
  monkeypatch.setattr(s3_lock, 'LEASE_SECONDS', 3.0)
  monkeypatch.setattr(s3_lock, 'RENEW_SECONDS', 0.5)
  with s3_lock.held(lock, 'a long push'):
    time.sleep(4.5)
    with pytest.raises(errors.ReleaseError, match='locked by a long push'):
      with s3_lock.held(lock, 'another', wait_seconds=1):
        pass


def test_a_rollback_the_file_system_refuses_is_one_line(tmp_path, capsys, monkeypatch):
  serving = _two_versions(tmp_path)
  serving_pusher.publish(_model(tmp_path / 'm3', 'three'), serving, _compared_with(2))
  renames = []

  def rename(source, destination):  # the second move fails, as across devices
    renames.append(source)
    if len(renames) == 2:
      raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
    os.replace(source, destination)

  monkeypatch.setattr(release_manager.os, 'rename', rename)
  code, _, err = _cli(capsys, 'rollback', '--serving-dir', serving, '--to', '1', '--reason',
                      'x')
  assert (code, err) == (1, f'petseg: error: {serving}/3: cannot be moved to '
                         f'{serving}/.retired/3 (Invalid cross-device link); moved before '
                         'it: 2\n')
  # Lowest first: version 3, the highest, is still served. The log tells what moved.
  assert release_registry.newest_release(serving) == 3
  decisions = release_log.read(serving).decisions
  assert [d.action for d in decisions] == ['released'] * 3 + ['rollback']
  assert (decisions[-1].versions, decisions[-1].version) == ([2], 3)
  assert decisions[-1].reasons == ['x', f'stopped: {err[len("petseg: error: "):-1]}']
  with open(os.path.join(serving, release_registry.INDEX_FILE)) as f:
    assert 'retired 2' in f.read()


def test_a_rollback_whose_log_record_cannot_be_written_says_so_in_one_line(
    tmp_path, capsys, monkeypatch):
  serving = _two_versions(tmp_path)

  def full(*_):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  monkeypatch.setattr(release_log, 'append', full)
  code, _, err = _cli(capsys, 'rollback', '--serving-dir', serving, '--reason', 'x')
  assert (code, err) == (1, f'petseg: error: {serving}: rollback to version 1 (retired 2) is '
                         'done, but its log record could not be written (No space left on '
                         'device)\n')
  assert release_registry.newest_release(serving) == 1


def test_a_kubeflow_profiles_keys_release_and_take_over_the_lock_without_deleting(
    monkeypatch):
  """A multi-user profile's keys may put, get and list in its prefix, not delete: the lock
  is marked released instead, and the next release takes it over at once; a stale one is
  taken over by a conditional put as well."""
  with s3_server.serve_profile('team-a') as env:
    for name, value in env.items():
      monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, 'DEFAULT_SESSION', None)  # it keeps the first keys it read
    client = s3_server.client(env)
    lock = f's3://mlpipeline/private/team-a/serving/{release_registry.LOCK_FILE}'
    key = f'private/team-a/serving/{release_registry.LOCK_FILE}'
    with pytest.raises(Exception, match='AccessDenied'):
      client.put_object(Bucket='mlpipeline', Key='serving/x', Body=b'')  # outside its prefix
    with s3_lock.held(lock, 'release 1'):
      pass
    assert json.loads(client.get_object(Bucket='mlpipeline', Key=key)['Body'].read()) == {
        'holder': 'release 1', 'released': True}
    started = time.monotonic()
    with s3_lock.held(lock, 'release 2', wait_seconds=5):
      assert json.loads(client.get_object(Bucket='mlpipeline', Key=key)['Body'].read()) == {
          'holder': 'release 2'}
    assert time.monotonic() - started < 5
    client.put_object(Bucket='mlpipeline', Key=key, Body=b'{"holder": "a process that died"}')
    monkeypatch.setattr(s3_lock, 'LEASE_SECONDS', 1.0)
    time.sleep(2.5)
    with s3_lock.held(lock, 'release 3', wait_seconds=10):
      assert b'release 3' in client.get_object(Bucket='mlpipeline', Key=key)['Body'].read()


# --- Hostile words and files (issue 41) ---------------------------------------------------

def _registry_state(serving):
  """Every file of the registry but its page, with its bytes."""
  return {os.path.relpath(os.path.join(root, name), serving):
          open(os.path.join(root, name), 'rb').read()
          for root, _, names in os.walk(serving) for name in names if name != 'index.html'}


def test_a_reason_that_is_not_utf8_changes_nothing_and_is_one_line(tmp_path, capsys):
  serving = _two_versions(tmp_path)
  before = _registry_state(serving)
  # A command line's bytes that are not UTF-8 reach Python as surrogates.
  reason = b'bad\xff\xfebytes'.decode('utf-8', 'surrogateescape')
  code, _, err = _cli(capsys, 'rollback', '--serving-dir', serving, '--reason', reason)
  assert code == 1 and err.splitlines()[0] == (
      'petseg: error: --reason: not UTF-8 text; give it in UTF-8; nothing was changed')
  assert 'Traceback' not in err
  assert _registry_state(serving) == before  # nothing moved, nothing logged
  code, _, err = _cli(capsys, 'rollback', '--serving-dir', serving, '--reason', 'ok')
  assert code == 0  # and the registry still works


def test_a_reason_cannot_pose_as_a_record_or_drive_the_terminal(tmp_path, capsys):
  serving = _two_versions(tmp_path)
  forged = 'x\n2026-01-01T00:00:00+00:00  released as version 9  by admin@prod'
  assert _cli(capsys, 'rollback', '--serving-dir', serving, '--reason', forged)[0] == 0
  assert _cli(capsys, 'restore', '2', '--serving-dir', serving, '--reason',
              '\x1b[2J\x1b[31mRED')[0] == 0
  code, out, _ = _cli(capsys, 'releases', '--all', '--serving-dir', serving)
  assert code == 0 and '\x1b' not in out
  log = [line for line in out.splitlines() if line.startswith('  ')]
  assert len(log) == 4  # released, released, rollback, restore: one line each
  assert log[2].endswith(r': x\n2026-01-01T00:00:00+00:00  released as version 9  by admin@prod')
  assert log[3].endswith(r': \x1b[2J\x1b[31mRED')
  with open(os.path.join(serving, release_registry.INDEX_FILE), encoding='utf-8') as f:
    page = f.read()
  assert '\x1b' not in page and '\nRED' not in page
  assert r'x\n2026-01-01T00:00:00+00:00  released as version 9' in page
  # Kept as given in the log itself, and in its JSON.
  assert json.loads(_cli(capsys, 'releases', '--all', '--json', '--serving-dir',
                         serving)[1])['log'][2]['reasons'] == [forged]


def test_the_users_name_enters_a_record_as_one_line(monkeypatch):
  monkeypatch.setenv('LOGNAME', 'eve\n\x1b[2J' + b'\xff'.decode('utf-8', 'surrogateescape'))
  assert release_registry.who().startswith(r'eve\n\x1b[2J\xff@')


def test_a_damaged_version_is_listed_as_damaged(tmp_path, capsys):
  serving = _two_versions(tmp_path)
  with open(os.path.join(serving, '2', 'saved_model.pb'), 'wb') as f:
    f.write(b'not a graph')
  code, out, _ = _cli(capsys, 'releases', '--serving-dir', serving)
  assert code == 0
  row, = [line for line in out.splitlines() if line.startswith('2  ')]
  assert row.split() == ['2', 'serving', 'damaged:', 'saved_model.pb', 'does', 'not', 'parse',
                         'as', 'a', 'SavedModel']
  code, out, _ = _cli(capsys, 'releases', 'show', '2', '--serving-dir', serving)
  assert 'Problem    damaged: saved_model.pb does not parse as a SavedModel' in out


@pytest.mark.parametrize('harm, problem', [
    ('delete', 'incomplete: no saved_model.pb'),
    ('garble', 'damaged: saved_model.pb does not parse as a SavedModel')])
def test_restore_refuses_a_version_it_would_bring_back_broken(tmp_path, capsys, harm, problem):
  serving = _two_versions(tmp_path)
  assert _cli(capsys, 'rollback', '--serving-dir', serving, '--reason', 'r')[0] == 0
  model = os.path.join(serving, '.retired', '2', 'saved_model.pb')
  if harm == 'delete':
    os.remove(model)
  else:
    with open(model, 'wb') as f:
      f.write(b'garbage')
  before = _registry_state(serving)
  code, _, err = _cli(capsys, 'restore', '2', '--serving-dir', serving)
  assert code == 1 and err.splitlines()[0] == (
      f'petseg: error: {serving}: cannot restore version 2: {problem}; nothing was changed')
  assert _registry_state(serving) == before


def test_a_file_given_as_the_serving_directory_is_called_a_file(tmp_path, capsys):
  path = tmp_path / 'serving'
  path.write_text('not a directory')
  code, _, err = _cli(capsys, 'releases', '--serving-dir', str(path))
  assert code == 1 and err.splitlines()[0] == (
      f'petseg: error: {path}: a file, not a serving directory')
