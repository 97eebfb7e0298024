"""The gate turns ExampleValidator's anomalies into one readable error."""
import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

from petseg.components.validation_gate import executor as validation_gate


def _anomalies_artifact(tmp_path, per_split):
  artifact = standard_artifacts.ExampleAnomalies()
  artifact.uri = str(tmp_path)
  artifact.split_names = artifact_utils.encode_split_names(list(per_split))
  for split, anomalies in per_split.items():
    (tmp_path / f'Split-{split}').mkdir()
    (tmp_path / f'Split-{split}' / 'SchemaDiff.pb').write_bytes(anomalies.SerializeToString())
  return artifact


def test_clean_splits_pass(tmp_path):
  validation_gate.check_anomalies(_anomalies_artifact(
      tmp_path, {'train': anomalies_pb2.Anomalies(), 'test': anomalies_pb2.Anomalies()}))


def test_anomalies_are_listed_by_split_and_feature(tmp_path):
  bad = anomalies_pb2.Anomalies()
  bad.anomaly_info['breed'].short_description = 'Unexpected string values'
  bad.anomaly_info['breed'].description = 'Examples contain values missing from the schema: unicorn (~3%).'
  with pytest.raises(validation_gate.DataValidationError) as e:
    validation_gate.check_anomalies(_anomalies_artifact(
        tmp_path, {'train': anomalies_pb2.Anomalies(), 'test': bad}))
  assert ("split 'test', feature 'breed': Unexpected string values: Examples contain values "
          "missing from the schema: unicorn") in str(e.value)
  assert 'train' not in str(e.value).split('\n')[1]
