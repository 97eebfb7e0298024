"""The schema step publishes the installed schema, and refuses one that changed."""
import os

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from petseg.components.curated_schema import component as curated_schema
from petseg.components.curated_schema import executor as curated_schema_executor
from petseg.core import errors


def _run(tmp_path, sha256):
  schema = standard_artifacts.Schema()
  schema.uri = str(tmp_path)
  executor = curated_schema.CuratedSchema.EXECUTOR_SPEC.executor_class()
  executor.Do({}, {'schema': [schema]}, {'schema_name': 'oxford_pets.pbtxt', 'sha256': sha256})
  return os.path.join(str(tmp_path), curated_schema_executor.SCHEMA_FILE)


def test_the_schema_the_pipeline_was_built_with_is_published(tmp_path):
  path = _run(tmp_path, curated_schema_executor.digest('oxford_pets.pbtxt'))
  schema = io_utils.parse_pbtxt_file(path, schema_pb2.Schema())
  assert {f.name for f in schema.feature} >= {'image', 'mask', 'species'}


def test_a_different_installed_schema_fails_with_what_to_do(tmp_path):
  with pytest.raises(errors.ConfigError, match='rebuild the image'):
    _run(tmp_path, '0' * 64)
  assert not os.listdir(tmp_path)
