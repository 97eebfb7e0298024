"""What ValidationGate does: reads ExampleValidator's anomalies of each split and fails,
one line per split and feature, when there are any."""
import os
from typing import List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from petseg.core import errors

_SCHEMA_DIFF_FILE = 'SchemaDiff.pb'  # What ExampleValidator writes per split.


class DataValidationError(errors.DataError):
  """ExampleValidator found anomalies; the message lists them."""


def describe(split: str, anomalies: anomalies_pb2.Anomalies) -> List[str]:
  """One line per anomaly: split, feature, what is wrong."""
  lines = []
  for feature, info in sorted(anomalies.anomaly_info.items()):
    lines.append(f'split {split!r}, feature {feature!r}: {info.short_description}: '
                 f'{info.description}')
  if anomalies.HasField('dataset_anomaly_info'):
    info = anomalies.dataset_anomaly_info
    lines.append(f'split {split!r}: {info.short_description}: {info.description}')
  return lines


def check_anomalies(anomalies_artifact) -> None:
  problems = []
  for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
    path = os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split),
                        _SCHEMA_DIFF_FILE)
    with fileio.open(path, 'rb') as f:
      problems += describe(split, anomalies_pb2.Anomalies.FromString(f.read()))
  if problems:
    raise DataValidationError(
        'the data does not match its schema (ExampleValidator):\n  ' + '\n  '.join(problems)
        + '\nFix the data, or, if the change is intended, the curated schema in schemas/.')
