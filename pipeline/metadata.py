"""Reading a run's results back from ML Metadata: executions and artifacts per component."""
from typing import Any, Dict, List

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from petseg.components import release_record


def connect(sqlite_path: str) -> mlmd.MetadataStore:
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = sqlite_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
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


def input_artifacts(store: mlmd.MetadataStore, execution_id: int,
                    key: str) -> List[metadata_store_pb2.Artifact]:
  """The artifacts an execution read under `key`."""
  return _artifacts(store, execution_id, key, (metadata_store_pb2.Event.INPUT,))


def latest_executions(store: mlmd.MetadataStore,
                      pipeline_name: str) -> Dict[str, metadata_store_pb2.Execution]:
  """Node id -> its latest execution, in the order the nodes first ran."""
  prefix = f'{pipeline_name}.'
  latest = {}
  for context in store.get_contexts_by_type('node'):
    if context.name.startswith(prefix):
      runs = executions(store, pipeline_name, context.name[len(prefix):])
      if runs:
        latest[context.name[len(prefix):]] = (runs[0].id, runs[-1])
  return {node: run for node, (_, run) in sorted(latest.items(), key=lambda kv: kv[1][0])}


def run_executions(store: mlmd.MetadataStore,
                   pipeline_name: str) -> Dict[str, metadata_store_pb2.Execution]:
  """Node id -> its execution in the latest run (a node skipped by a condition is absent)."""
  first_node = executions(store, pipeline_name, 'ExampleGen')
  if not first_node:
    return {}
  run_type = store.get_context_type('pipeline_run')
  run, = [c for c in store.get_contexts_by_execution(first_node[-1].id)
          if c.type_id == run_type.id]
  in_run = {e.id for e in store.get_executions_by_context(run.id)}
  return {node: execution for node, execution in latest_executions(store, pipeline_name).items()
          if execution.id in in_run}


def run_summary(store: mlmd.MetadataStore,
                executions: Dict[str, metadata_store_pb2.Execution]) -> Dict[str, Any]:
  """A run's release record (the ReleaseRecord step's), with where its HTML report is and
  where the model was pushed (None when it was not)."""
  node = executions['ReleaseRecord']
  summary_artifact, = output_artifacts(store, node.id, 'summary')
  report, = output_artifacts(store, node.id, 'report')
  summary = release_record.read(summary_artifact.uri)
  pushed = None
  if 'Pusher' in executions:
    pushed_model, = output_artifacts(store, executions['Pusher'].id, 'pushed_model')
    if pushed_model.custom_properties['pushed'].int_value == 1:
      pushed = pushed_model.custom_properties['pushed_destination'].string_value
  return {**summary, 'report': report.uri, 'pushed': pushed}
