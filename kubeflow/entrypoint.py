"""The container entrypoint of every step of the compiled pipeline: TFX's own
(kubeflow_v2_run_executor), given an executor input it can read under both Kubeflow
launchers, open-source KFP 2.x and Vertex AI.

What the open-source launcher hands a step differs from what TFX 1.16 expects; each case is
reproduced in tests/test_kubeflow_entrypoint.py and by the harness (tests/kfp_harness.py):

- Input artifacts have no type: the open-source driver rebuilds them from ML Metadata with
  a URI, a name and metadata only, and TFX fails looking up a class for them
  (tensorflow/tfx#7768). Other launchers have been seen sending an empty instance schema,
  `system.*` titles, or one title for several TFX types. Each input gets the type its
  component declares, which TFX compiles into the step's arguments
  (--json_serialized_inputs_spec_args), whatever came with it.
- petseg's own artifact types (the run summary, the HTML report) are compiled with their
  type name as schema title, which TFX's entrypoint then imports as a class path; they are
  given their class path.
- The launcher's own output, `executor-logs` (added when the backend publishes step logs,
  its default), is not the component's: TFX would try to import its type.
- Storage, under the open-source launcher (--local_artifact_copies, compiled in for
  `--target kfp`): its default pipeline root is MinIO (`minio://`), which TensorFlow and
  Beam cannot open, and with a `gs://` root TensorFlow writes zero-byte directory markers
  that make the launcher fail to download the artifact for the next step
  (kubeflow/pipelines#13476). The launcher downloads each input artifact to its local copy
  (/minio/BUCKET/KEY, /gcs/..., /s3/...) before the step and uploads each output from there
  after it, file by file; so the step reads and writes those copies, and reports its
  outputs under their own URIs (the launcher records the URI the step reports). On Vertex
  AI, artifacts are read and written where they are (`gs://`).
- Output directories on a local file system are made before the step, as TFX's own
  launcher does (steps write into them; an object store needs none, a disk does).
- The exit: once the executor output is written, the process ends at once
  (core/storage.exit): a process that used tensorflow-io's S3 file system aborts in a C++
  destructor at interpreter exit after its work is done (measured here; sky-uk/
  kfp-operator's TFX notes saw it with TFX 1.17), which the launcher counts as a failure.
- Object stores: s3:// (and minio://, read as s3://) through tensorflow-io and Beam's S3
  file system, configured by the standard AWS environment, which the compiled spec sets
  from a Kubernetes secret (see core/storage.py and kubeflow/README.md).
"""
import argparse
import json
import os
import sys
import traceback
from typing import Any, Dict, List, Tuple

# pylint: disable=g-bad-import-order
import petseg  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from absl import app
from absl.flags import argparse_flags
from tfx.dsl.io import fileio
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor
from tfx.types import value_artifact
from tfx.utils import import_utils
from tfx.utils import name_utils
import yaml

from petseg.components.release_record import component as release_record
from petseg.core import errors
from petseg.core import storage

LOCAL_COPIES_FLAG = '--local_artifact_copies'
# The run's id, given by the compiled spec to the tasks that must run every time (see
# runner.RUN_ID_INPUT); part of the cache key only, not the component's.
RUN_ID_INPUT = 'petseg_run_id'
LAUNCHER_OUTPUTS = ('executor-logs',)
_CUSTOM_TYPES = {cls.TYPE_NAME: name_utils.get_full_name(cls)
                 for cls in release_record.CUSTOM_TYPES}


def _title(artifact_type: Dict[str, Any]) -> str:
  if 'schemaTitle' in artifact_type:
    return artifact_type['schemaTitle']
  return (yaml.safe_load(artifact_type.get('instanceSchema') or '') or {}).get('title', '')


def normalise(executor_input: Dict[str, Any], inputs_spec: Dict[str, Any],
              local_copies: bool = False) -> Tuple[Dict[str, Any], Dict[str, str]]:
  """(the executor input as TFX reads it, path opened -> the URI it stands for); with
  `local_copies`, the artifacts are read and written at the launcher's local copies,
  otherwise where they are (minio:// as s3://)."""
  declared = {key: spec['artifactType']
              for key, spec in inputs_spec.get('artifacts', {}).items()}
  executor_input.setdefault('inputs', {}).get('parameterValues', {}).pop(RUN_ID_INPUT, None)
  inputs = executor_input['inputs'].get('artifacts', {})
  outputs = executor_input.setdefault('outputs', {}).get('artifacts', {})
  for key in LAUNCHER_OUTPUTS:
    outputs.pop(key, None)
  relocated = {}
  for section in (inputs, outputs):
    for key, artifact_list in section.items():
      for artifact in artifact_list.get('artifacts', []):
        if section is inputs and key in declared:
          artifact['type'] = dict(declared[key])
        title = _title(artifact.get('type', {}))
        if title in _CUSTOM_TYPES:
          artifact['type'] = {'schemaTitle': _CUSTOM_TYPES[title]}
        uri = artifact.get('uri', '')
        opened = (storage.local_copy(uri) if local_copies else None) or storage.openable(uri)
        if opened != uri:
          relocated[opened] = uri
          artifact['uri'] = opened
  return executor_input, relocated


def _is_value_artifact(artifact_type: Dict[str, Any]) -> bool:
  """Whether the type is stored as one file at its URI rather than a directory."""
  title = _title(artifact_type)
  class_path = _CUSTOM_TYPES.get(title) or compiler_utils.TITLE_TO_CLASS_PATH.get(title, title)
  return issubclass(import_utils.import_class_by_path(class_path),
                    value_artifact.ValueArtifact)


def make_output_dirs(executor_input: Dict[str, Any]) -> None:
  """The directories of the outputs that live on a local file system."""
  for artifact_list in executor_input['outputs'].get('artifacts', {}).values():
    for artifact in artifact_list.get('artifacts', []):
      uri = artifact['uri']
      if not storage.of(uri).local:
        continue
      os.makedirs(os.path.dirname(uri) if _is_value_artifact(artifact['type']) else uri,
                  exist_ok=True)


def restore_uris(output_file: str, relocated: Dict[str, str]) -> None:
  """Puts the artifacts' own URIs back into the executor output TFX wrote (a local file,
  or one in the store under Vertex AI)."""
  if not relocated:
    return
  with fileio.open(storage.openable(output_file)) as f:
    output = json.load(f)
  for artifact_list in output.get('artifacts', {}).values():
    for artifact in artifact_list.get('artifacts', []):
      artifact['uri'] = relocated.get(artifact.get('uri'), artifact.get('uri'))
  with fileio.open(storage.openable(output_file), 'w') as f:
    json.dump(output, f)


def _parse(argv: List[str]) -> Tuple[argparse.Namespace, List[str]]:
  parser = argparse_flags.ArgumentParser(prog='petseg.kubeflow.entrypoint')
  parser.add_argument(LOCAL_COPIES_FLAG, action='store_true',
                      help='read and write artifacts at the launcher\'s local copies')
  parser.add_argument('--executor_class_path', required=True)
  parser.add_argument('--json_serialized_invocation_args', required=True)
  parser.add_argument('--json_serialized_inputs_spec_args', default='{}')
  return parser.parse_known_args(argv[1:])


def main(parsed: Tuple[argparse.Namespace, List[str]]) -> None:
  args, beam_args = parsed
  if args.local_artifact_copies:  # what storage.local_copy and storage.durable read
    os.environ.setdefault(storage.LOCAL_ROOT_ENV, '/')
  storage.register()
  executor_input, relocated = normalise(json.loads(args.json_serialized_invocation_args),
                                        json.loads(args.json_serialized_inputs_spec_args),
                                        args.local_artifact_copies)
  args.json_serialized_invocation_args = json.dumps(executor_input)
  try:
    make_output_dirs(executor_input)
    kubeflow_v2_run_executor.main((args, beam_args))
    restore_uris(executor_input['outputs']['outputFile'], relocated)
  except errors.PetsegError as e:
    print(f'petseg: error: {e}', file=sys.stderr)
    storage.exit(1)
  except Exception:  # pylint: disable=broad-except
    traceback.print_exc()
    storage.exit(1)
  storage.exit(0)


if __name__ == '__main__':
  app.run(main, flags_parser=_parse)
