"""Reading a run's results back from ML Metadata (executions and artifacts per component),
and tidying up after a run that was killed."""
import dataclasses
import glob
from typing import Any, Dict, List, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.io import fileio

from petseg.components.example_gen import component as example_gen
from petseg.components.latest_release import component as latest_release
from petseg.components.latest_release import executor as latest
from petseg.components.pusher import component as serving_pusher
from petseg.components.release_record import component as release_record
from petseg.records import summary as run_summary


def connect(sqlite_path: str, readonly: bool = True) -> mlmd.MetadataStore:
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = sqlite_path
  config.sqlite.connection_mode = (metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
                                   if readonly else
                                   metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE)
  return mlmd.MetadataStore(config)


def executions(store: mlmd.MetadataStore, pipeline_name: str,
               node_id: str) -> List[metadata_store_pb2.Execution]:
  """Every execution of a pipeline node, oldest first."""
  context = store.get_context_by_type_and_name('node', f'{pipeline_name}.{node_id}')
  if context is None:
    return []
  return sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)


def _artifacts(store, execution_id, key, event_types):
  ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
         if e.type in event_types and any(step.key == key for step in e.path.steps)]
  return store.get_artifacts_by_id(ids)


def output_artifacts(store: mlmd.MetadataStore, execution_id: int,
                     key: str) -> List[metadata_store_pb2.Artifact]:
  """The artifacts an execution output under `key` (a cached one points at the reused ones)."""
  return _artifacts(store, execution_id, key, (metadata_store_pb2.Event.OUTPUT,))


def _node_executions(store: mlmd.MetadataStore, pipeline_name: str
                     ) -> Dict[str, List[metadata_store_pb2.Execution]]:
  """Node id -> its executions, oldest first, for each node that ran."""
  prefix = f'{pipeline_name}.'
  found = {}
  for context in store.get_contexts_by_type('node'):
    if context.name.startswith(prefix):
      runs = executions(store, pipeline_name, context.name[len(prefix):])
      if runs:
        found[context.name[len(prefix):]] = runs
  return found


def _in_order(found: Dict[str, List[metadata_store_pb2.Execution]]
              ) -> Dict[str, metadata_store_pb2.Execution]:
  """Node id -> its newest execution of `found`, in the order the nodes first ran."""
  return {node: runs[-1] for node, runs in sorted(found.items(), key=lambda kv: kv[1][0].id)}


def latest_executions(store: mlmd.MetadataStore,
                      pipeline_name: str) -> Dict[str, metadata_store_pb2.Execution]:
  """Node id -> its latest execution, in the order the nodes first ran."""
  return _in_order(_node_executions(store, pipeline_name))


def run_id_of(store: mlmd.MetadataStore, execution: metadata_store_pb2.Execution) -> str:
  """The id of the pipeline run an execution belongs to."""
  run_type = store.get_context_type('pipeline_run')
  run, = [c for c in store.get_contexts_by_execution(execution.id) if c.type_id == run_type.id]
  return run.name


def run_executions(store: mlmd.MetadataStore, pipeline_name: str, run_id: Optional[str] = None
                   ) -> Dict[str, metadata_store_pb2.Execution]:
  """Node id -> its (newest) execution in run `run_id` (default: the latest run), in the
  order the nodes ran; a node skipped by a condition, or not reached, is absent."""
  if run_id is None:
    first_node = executions(store, pipeline_name, example_gen.NODE_ID)
    if not first_node:
      return {}
    run_id = run_id_of(store, first_node[-1])
  run = store.get_context_by_type_and_name('pipeline_run', run_id)
  if run is None:
    return {}
  in_run = {e.id for e in store.get_executions_by_context(run.id)}
  # A run superseded by a later one still has its own executions.
  found = {node: [e for e in runs if e.id in in_run]
           for node, runs in _node_executions(store, pipeline_name).items()}
  return _in_order({node: runs for node, runs in found.items() if runs})


_UNFINISHED = (metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING)


def abandon_interrupted(store: mlmd.MetadataStore, pipeline_name: str,
                        pipeline_root: str) -> List[str]:
  """Marks the executions that a killed run left unfinished as CANCELED and removes their
  partial outputs and temporary files ({pipeline_root}/{node}/{output or .temp}/{execution
  id}, TFX's layout). Only for a caller that holds the run lock (then no other run is
  under way). Returns the removed directories."""
  prefix = f'{pipeline_name}.'
  removed = []
  for context in store.get_contexts_by_type('node'):
    if not context.name.startswith(prefix):
      continue
    node_dir = f'{pipeline_root.rstrip("/")}/{context.name[len(prefix):]}'
    for execution in store.get_executions_by_context(context.id):
      if execution.last_known_state not in _UNFINISHED:
        continue
      execution.last_known_state = metadata_store_pb2.Execution.CANCELED
      store.put_executions([execution])
      for kind in ('*', '.temp'):  # each output, and TFX's temporary files
        for path in fileio.glob(f'{glob.escape(node_dir)}/{kind}/{execution.id}'):
          fileio.rmtree(path)
          removed.append(path)
  return removed


@dataclasses.dataclass(frozen=True)
class RunResult:
  """What a run produced: its release record, its HTML report (an artifact's URI), and
  where the model was pushed (None when it was not)."""
  summary: run_summary.RunSummary
  report: str
  pushed: Optional[str]

  def to_json(self) -> Dict[str, Any]:
    """OUTPUT_DIR/run_summary.json: the release record, with the report and the push."""
    return {**self.summary.to_json(), 'report': self.report, 'pushed': self.pushed}


@dataclasses.dataclass(frozen=True)
class NothingNew:
  """A run that stopped at the registry step: the line that says why (latest.Freshness),
  the version served, and whether that step's result came from the cache (then it wrote no
  decision of its own)."""
  line: str
  version: int
  cached: bool
  data_fingerprint: str
  config_fingerprint: str


def nothing_new(store: mlmd.MetadataStore,
                executions: Dict[str, metadata_store_pb2.Execution]) -> Optional[NothingNew]:
  """What a run that had nothing new to train on says; None for a run that went on."""
  node = executions.get(latest_release.NODE_ID)
  if node is None:
    return None
  freshness, = output_artifacts(store, node.id, 'freshness')
  properties = freshness.custom_properties
  if properties[latest.NOTHING_NEW].int_value != 1:
    return None
  return NothingNew(properties[latest.WHY].string_value,
                    properties[latest.VERSION].int_value,
                    node.last_known_state == metadata_store_pb2.Execution.CACHED,
                    properties[latest.DATA].string_value, properties[latest.SETTINGS].string_value)


def run_result(store: mlmd.MetadataStore,
               executions: Dict[str, metadata_store_pb2.Execution]) -> RunResult:
  """A run's result, from its ReleaseRecord and Pusher executions."""
  node = executions[release_record.NODE_ID]
  summary_artifact, = output_artifacts(store, node.id, 'summary')
  report, = output_artifacts(store, node.id, 'report')
  pushed = None
  if serving_pusher.NODE_ID in executions:
    pushed_model, = output_artifacts(store, executions[serving_pusher.NODE_ID].id,
                                     'pushed_model')
    if pushed_model.custom_properties['pushed'].int_value == 1:
      pushed = pushed_model.custom_properties['pushed_destination'].string_value
  return RunResult(run_summary.read(summary_artifact.uri), report.uri, pushed)
