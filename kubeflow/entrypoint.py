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
- The exit: once the executor output is written, the process ends at once, as a step of
  TFX 1.17 on S3 was seen crashing in a C++ destructor at interpreter exit after its work
  was done (sky-uk/kfp-operator's TFX notes), which the launcher counts as a failure.
"""
import argparse
import json
import os
import sys
import traceback
from typing import Any, Dict, List, Optional, Tuple

# pylint: disable=g-bad-import-order
import petseg  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from absl import app
from absl.flags import argparse_flags
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor
from tfx.types import value_artifact
from tfx.utils import import_utils
from tfx.utils import name_utils
import yaml

from petseg.components import release_record
from petseg.core import errors

# Where the open-source launcher puts local copies of artifacts, by URI scheme.
LOCAL_MOUNTS = {'gs://': 'gcs', 'minio://': 'minio', 's3://': 's3'}
# The root of those mounts: '/' in a pod; tests point it at a temporary directory.
LOCAL_ROOT_ENV = 'PETSEG_KFP_LOCAL_ROOT'
LOCAL_COPIES_FLAG = '--local_artifact_copies'
LAUNCHER_OUTPUTS = ('executor-logs',)
_CUSTOM_TYPES = {cls.TYPE_NAME: name_utils.get_full_name(cls)
                 for cls in release_record.CUSTOM_TYPES}


def local_path(uri: str, root: Optional[str] = None) -> Optional[str]:
  """Where the open-source launcher keeps its copy of the artifact at `uri`, below `root`
  (default: $PETSEG_KFP_LOCAL_ROOT or '/'), or None for a path on a local file system."""
  for scheme, mount in LOCAL_MOUNTS.items():
    if uri.startswith(scheme):
      return os.path.join(root or os.environ.get(LOCAL_ROOT_ENV, '/'), mount,
                          uri[len(scheme):])
  return None


def _title(artifact_type: Dict[str, Any]) -> str:
  if 'schemaTitle' in artifact_type:
    return artifact_type['schemaTitle']
  return (yaml.safe_load(artifact_type.get('instanceSchema') or '') or {}).get('title', '')


def normalise(executor_input: Dict[str, Any], inputs_spec: Dict[str, Any],
              local_copies: bool = False) -> Tuple[Dict[str, Any], Dict[str, str]]:
  """(the executor input as TFX reads it, local path -> the URI it stands for); with
  `local_copies`, the artifacts are read and written at the launcher's local copies."""
  declared = {key: spec['artifactType']
              for key, spec in inputs_spec.get('artifacts', {}).items()}
  inputs = executor_input.setdefault('inputs', {}).get('artifacts', {})
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
        local = local_copies and local_path(artifact.get('uri', ''))
        if local:
          relocated[local] = artifact['uri']
          artifact['uri'] = local
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
      if '://' in uri:
        continue
      os.makedirs(os.path.dirname(uri) if _is_value_artifact(artifact['type']) else uri,
                  exist_ok=True)


def restore_uris(output_file: str, relocated: Dict[str, str]) -> None:
  """Puts the artifacts' own URIs back into the executor output TFX wrote."""
  if not relocated:
    return
  with open(output_file) as f:
    output = json.load(f)
  for artifact_list in output.get('artifacts', {}).values():
    for artifact in artifact_list.get('artifacts', []):
      artifact['uri'] = relocated.get(artifact.get('uri'), artifact.get('uri'))
  with open(output_file, 'w') as f:
    json.dump(output, f)


def _parse(argv: List[str]) -> Tuple[argparse.Namespace, List[str]]:
  parser = argparse_flags.ArgumentParser(prog='petseg.kubeflow.entrypoint')
  parser.add_argument(LOCAL_COPIES_FLAG, action='store_true',
                      help='read and write artifacts at the launcher\'s local copies')
  parser.add_argument('--executor_class_path', required=True)
  parser.add_argument('--json_serialized_invocation_args', required=True)
  parser.add_argument('--json_serialized_inputs_spec_args', default='{}')
  return parser.parse_known_args(argv[1:])


def _exit(code: int) -> None:
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access  (see the module doc: no interpreter exit)


def main(parsed: Tuple[argparse.Namespace, List[str]]) -> None:
  args, beam_args = parsed
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
    _exit(1)
  except Exception:  # pylint: disable=broad-except
    traceback.print_exc()
    _exit(1)
  _exit(0)


if __name__ == '__main__':
  app.run(main, flags_parser=_parse)
