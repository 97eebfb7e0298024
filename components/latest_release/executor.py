"""The registry step: hands the newest released version to the Evaluator as its baseline,
and says whether this run has anything new to train on.

A run whose data and settings are those of the version being served would train the same
model again (a nightly schedule on unchanged data does so every night): when the data
fingerprint of the ingested examples and the settings fingerprint (the training settings,
the labels and the release gate, runtime parameters folded in) equal those in the served
version's release record, the step says "nothing new since version N", records it in the
registry's decision log, and no step after it runs: a compiled spec conditions each of them
on this step's verdict (pipeline.py), a local run checks first and stops
(local_runner.run_unless_nothing_new). `retrain` (petseg run --retrain, the run parameter
on Kubeflow) goes on all the same.
Both fingerprints are the ones the release record holds (records/summary.py).
"""
import dataclasses
import json
import os
from typing import Any, Dict, List, Mapping, Optional

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx.utils import path_utils

from petseg.core import config as config_lib
from petseg.models import training as training_lib
from petseg.records import ingest_report
from petseg.records import summary as run_summary
from petseg.registry import log as release_log
from petseg.registry import manager as release_manager
from petseg.registry import versions as release_registry

# The freshness artifact's custom properties: 1 when the run has nothing new (the steps
# after it are skipped), and the line that says why ...
NOTHING_NEW = 'nothing_new'
WHY = 'nothing_new_reason'
# ... and the run's fingerprints (the release record's data_fingerprint, config_fingerprint).
DATA, SETTINGS = 'data_fingerprint', 'config_fingerprint'
# The baseline's custom properties: the version found (0: none) and its path.
VERSION = 'released_version'
PATH = 'released_path'
RETRAIN = 'retrain'  # the parameter that trains all the same
TRAINING_KEY, RELEASE_KEY = 'training', 'release'  # the settings, as JSON


@dataclasses.dataclass(frozen=True)
class Freshness:
  """What a run has that the served version lacks: `nothing_new` when its data and settings
  fingerprints are the served version's (and it was not told to retrain)."""
  nothing_new: bool
  line: str

  @classmethod
  def of(cls, served_version: Optional[int], served_record: Optional[run_summary.RunSummary],
         data: str, settings: str, retrain: bool) -> 'Freshness':
    if served_version is None:
      return cls(False, 'nothing released yet')
    if not served_record:
      return cls(False, f'version {served_version} has no release record to compare with')
    changed = [what for what, served, value in (
        ('data', served_record.data_fingerprint, data),
        ('settings', served_record.config_fingerprint, settings)) if served != value]
    if changed:
      return cls(False, f'new since version {served_version}: {" and ".join(changed)}')
    same = f'data {data[:12]}, settings {settings[:12]}'
    if retrain:
      return cls(False, f'nothing new since version {served_version} ({same}), retraining as '
                 'asked')
    return cls(True, f'nothing new since version {served_version}: {same}')


def nothing_new_decision(line: str, version: int, model: Optional[str], data: str,
                         settings: str, pipeline: str, pipeline_run: str
                         ) -> release_log.Decision:
  """The decision log's record of a run that had nothing new to train on."""
  return release_log.Decision(
      time=release_log.now(), action=release_log.NOTHING_NEW, by=release_registry.who(),
      reasons=[line], version=version, pipeline=pipeline, pipeline_run=pipeline_run,
      model=model, data_fingerprint=data, config_fingerprint=settings)


def log_nothing_new(serving_dir: str, decision: release_log.Decision) -> None:
  """Adds the decision to the registry's log and page, under its lock."""
  with release_registry.lock(serving_dir):
    release_manager.log(serving_dir, decision)


def settings_fingerprint(properties: Mapping[str, Any]) -> str:
  """The settings fingerprint of the run these properties describe: as the Trainer will
  record its settings and as the Evaluator will apply its gate."""
  values = {p.name: properties[p.name] for p in config_lib.RUNTIME_PARAMETERS}
  custom_config = config_lib.fold_parameters('training',
                                             json.loads(properties[TRAINING_KEY]), values)
  release = config_lib.ReleaseConfig.from_json(config_lib.fold_parameters(
      'release', json.loads(properties[RELEASE_KEY]), values))
  return run_summary.settings_fingerprint(training_lib.recorded(custom_config),
                                          release.to_json())


class Executor(base_executor.BaseExecutor):
  """Copies the newest version into `baseline` (as a Trainer's model is laid out), so that
  the evaluation reads exactly the model it records; its custom properties say which
  version (0 when nothing has been released: the Evaluator then has no baseline). Says in
  `freshness` whether the run has anything new."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    serving_dir = exec_properties['serving_dir']
    baseline = artifact_utils.get_single_instance(output_dict['baseline'])
    fresh = artifact_utils.get_single_instance(output_dict['freshness'])
    examples = artifact_utils.get_single_instance(input_dict['examples'])
    ignored = release_registry.ignored_entries(serving_dir)
    if ignored:
      logging.warning('Not versions, ignored in %s: %s', serving_dir, ', '.join(ignored))
    version = release_registry.newest_release(serving_dir)
    record = None
    if version is None:
      logging.info('No released version in %s: this is a first release', serving_dir)
      baseline.set_int_custom_property(VERSION, 0)
      baseline.set_string_custom_property(PATH, '')
    else:
      path = os.path.join(serving_dir, str(version))
      # A damaged newest version stops the run: skipping it would compare with an older
      # release than the one being served.
      release_registry.check_version(path)
      record = release_registry.read_record(path)
      logging.info('Baseline: version %d, %s', version, path)
      io_utils.copy_dir(path, path_utils.serving_model_dir(baseline.uri))
      baseline.set_int_custom_property(VERSION, version)
      baseline.set_string_custom_property(PATH, path)
    data = run_summary.data_fingerprint(
        examples.uri, list(ingest_report.load(examples.uri).splits))
    settings = settings_fingerprint(exec_properties)
    freshness = Freshness.of(version, record, data, settings,
                             bool(exec_properties[RETRAIN]))
    logging.info('%s', freshness.line[0].upper() + freshness.line[1:])
    fresh.set_int_custom_property(NOTHING_NEW, int(freshness.nothing_new))
    fresh.set_string_custom_property(WHY, freshness.line)
    fresh.set_int_custom_property(VERSION, version or 0)
    fresh.set_string_custom_property(DATA, data)
    fresh.set_string_custom_property(SETTINGS, settings)
    if freshness.nothing_new:
      log_nothing_new(serving_dir, nothing_new_decision(
          freshness.line, version, record.model, data, settings,
          exec_properties['pipeline_name'],
          self._context.pipeline_run_id or exec_properties['pipeline_run']))


