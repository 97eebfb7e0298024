"""ExampleGen's pre-cache check (Vertex AI runs it before the step): TFX's own driver
(file_based_example_gen.driver), run where it can open the object stores (core/storage.py)
and ended as the steps are (storage.exit)."""
# pylint: disable=g-bad-import-order
import petseg  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from absl import app
from tfx.orchestration.kubeflow.v2.file_based_example_gen import driver as tfx_driver

from petseg.core import storage


def main(args) -> None:
  storage.register()
  tfx_driver.main(args)
  storage.exit(0)


if __name__ == '__main__':
  app.run(main, flags_parser=tfx_driver._parse_flags)  # pylint: disable=protected-access
