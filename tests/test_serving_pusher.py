"""Releasing into a TensorFlow Serving directory: numbered versions, never half-written,
each with its release record."""
import dataclasses
import os

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from petseg.components.pusher import executor as serving_pusher
from petseg.components.release_record import component as release_record
from petseg.core import errors
from petseg.records import summary as run_summary
from petseg.registry import log as release_log
from petseg.registry import manager as release_manager
from petseg.registry import versions as release_registry
from tests import helpers

SUMMARY = helpers.run_summary_of()  # a first release: compared with nothing


def _compared_with(version):
  """SUMMARY of a model evaluated against `version`."""
  return dataclasses.replace(SUMMARY, baseline=run_summary.Baseline(version, f'/s/{version}',
                                                                    0.6))


def _listed(serving):
  """The serving directory's entries but the registry's own (lock, log, retired, page)."""
  return sorted(n for n in os.listdir(serving) if n not in release_registry.OWN_ENTRIES)


def _saved_model(path):
  """A directory laid out like a SavedModel (the pusher copies files, it does not load)."""
  os.makedirs(path / 'variables')
  (path / 'saved_model.pb').write_bytes(b'graph')
  (path / 'variables' / 'variables.index').write_bytes(b'index')
  return str(path)


def test_versions_count_up_from_one_and_ignore_other_names(tmp_path):
  serving = tmp_path / 'serving'
  assert release_manager.next_version(str(serving)) == 1
  model = _saved_model(tmp_path / 'model')
  assert serving_pusher.publish(model, str(serving), SUMMARY) == '1'
  (serving / 'notes').mkdir()
  (serving / '7').mkdir()  # incomplete: no saved_model.pb, never served nor compared with
  assert release_registry.newest_release(str(serving)) == 1
  assert serving_pusher.publish(model, str(serving), _compared_with(1)) == '1'  # as 1
  (tmp_path / 'model' / 'variables' / 'variables.index').write_bytes(b'retrained')
  (serving / '9').write_text('a stray file')  # not a version: numbering goes on from 7
  (serving / '\u00b2').mkdir()  # a superscript 2: not an ASCII number, not a version
  assert serving_pusher.publish(model, str(serving), _compared_with(1)) == '8'
  assert release_manager.next_version(str(serving)) == 9
  assert _listed(serving) == ['1', '7', '8', '9', 'notes', '\u00b2']  # nothing staged left
  assert release_registry.ignored_entries(str(serving)) == ['9', 'notes', '\u00b2']
  assert (serving / '8' / 'saved_model.pb').read_bytes() == b'graph'
  assert (serving / '8' / 'variables' / 'variables.index').read_bytes() == b'retrained'


def test_each_version_carries_its_release_record(tmp_path):
  serving = tmp_path / 'serving'
  model = _saved_model(tmp_path / 'model')
  serving_pusher.publish(model, str(serving), SUMMARY)
  record = release_registry.read_record(str(serving / '1'))
  assert record.version == 1 and record.released_at
  # The run's record, numbered and dated; its card, drawn from it, as a page beside it.
  assert record == SUMMARY.released(1, record.released_at)
  page = (serving / '1' / 'assets.extra' / 'model_card.html').read_text()
  assert 'unet_xception, version 1' in page and 'border: IoU 0.380' in page
  assert release_registry.read_record(str(tmp_path / 'model')) is None


def test_the_model_already_served_as_the_newest_version_is_not_copied_again(tmp_path):
  serving = tmp_path / 'serving'
  model = _saved_model(tmp_path / 'model')
  assert serving_pusher.publish(model, str(serving), SUMMARY) == '1'
  # The record differs (another run), the model does not: version 1 keeps its record.
  assert serving_pusher.publish(
      model, str(serving), dataclasses.replace(_compared_with(1), model='other')) == '1'
  assert release_registry.read_record(str(serving / '1')).model == 'unet_xception'
  (tmp_path / 'model' / 'variables' / 'variables.index').write_bytes(b'retrained')
  assert serving_pusher.publish(model, str(serving), _compared_with(1)) == '2'
  assert _listed(serving) == ['1', '2']


def test_a_failed_copy_leaves_no_version_and_no_staging(tmp_path):
  serving = tmp_path / 'serving'
  model = tmp_path / 'model'
  model.mkdir()  # no saved_model.pb: the copy fails part-way
  with pytest.raises(errors.ReleaseError, match=r'/serving/1: cannot be written \(.*\); the '
                     r'model needs 0 bytes there; nothing was released'):
    serving_pusher.publish(str(model), str(serving), SUMMARY)
  assert _listed(serving) == []


def test_a_model_compared_with_an_older_release_than_the_newest_is_not_pushed(tmp_path):
  """Two runs evaluated against the same registry: the later push finds a version the
  comparison never saw, and refuses."""
  serving = tmp_path / 'serving'
  first = _saved_model(tmp_path / 'first')
  second = _saved_model(tmp_path / 'second')
  (tmp_path / 'second' / 'variables' / 'variables.index').write_bytes(b'other')
  assert serving_pusher.publish(first, str(serving), SUMMARY) == '1'
  with pytest.raises(errors.ReleaseError) as raised:
    serving_pusher.publish(second, str(serving), SUMMARY)  # also compared with nothing
  assert str(raised.value) == (
      f'{serving}: this model was compared with nothing (a first release), but version 1 is '
      'the newest now (another run or a person changed the registry meanwhile); nothing was '
      'pushed: re-run, and the model will be compared with the newest version')
  assert _listed(serving) == ['1']


def _push(tmp_path, blessed):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / 'model')
  _saved_model(tmp_path / 'model' / 'Format-Serving')
  blessing = standard_artifacts.ModelBlessing()
  blessing.set_int_custom_property('blessed', int(blessed))
  summary = release_record.RunSummaryArtifact()
  summary.uri = str(tmp_path / 'summary')
  os.makedirs(summary.uri)
  run_summary.write(SUMMARY, summary.uri)
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / 'pushed')
  destination = pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(
          base_directory=str(tmp_path / 'serving')))
  serving_pusher.Executor().Do(
      {'model': [model], 'model_blessing': [blessing], 'summary': [summary]},
      {'pushed_model': [pushed]},
      {'push_destination': proto_utils.proto_to_json(destination)})
  return pushed


def test_executor_pushes_a_blessed_model_and_records_where(tmp_path):
  pushed = _push(tmp_path, blessed=True)
  assert pushed.get_int_custom_property('pushed') == 1
  assert pushed.get_string_custom_property('pushed_destination') == str(
      tmp_path / 'serving' / '1')
  assert pushed.get_string_custom_property('pushed_version') == '1'
  assert (tmp_path / 'serving' / '1' / 'saved_model.pb').is_file()
  assert release_registry.read_record(str(tmp_path / 'serving' / '1')).test == SUMMARY.test


def test_executor_refuses_an_unblessed_model(tmp_path):
  pushed = _push(tmp_path, blessed=False)
  assert pushed.get_int_custom_property('pushed') == 0
  assert not (tmp_path / 'serving').exists()


def test_the_baseline_is_checked_before_already_released(tmp_path):
  """A rollback while the model was evaluated: version 1 is served again, the model is
  version 1's to the byte, but it was compared with version 2. Nothing is reported as
  pushed: the run is refused, and the log says so against the version it was compared
  with."""
  serving = tmp_path / 'serving'
  model = _saved_model(tmp_path / 'model')
  assert serving_pusher.publish(model, str(serving), SUMMARY) == '1'
  with pytest.raises(errors.ReleaseError, match='compared with version 2, but version 1 is '
                     'the newest now'):
    serving_pusher.publish(model, str(serving), _compared_with(2))
  last = release_log.read(str(serving)).decisions[-1]
  assert (last.action, last.baseline) == (release_log.NOT_PUSHED, 2)
