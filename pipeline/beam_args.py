"""The Beam arguments every runner of the pipeline passes (LocalDagRunner here, every
Kubeflow step): the defaults, the user's after "--", checked before anything runs."""
import contextlib
import io
from typing import Any, Dict, List, Optional, Sequence

from apache_beam.options import pipeline_options

from petseg.core import errors

# On 2 cores, in-memory beats the multi-process and multi-thread modes (measured: ExampleGen
# at 2,400 images 25-28 s, against 32-34 s and 28-32 s).
DEFAULT_BEAM_ARGS = ('--runner=DirectRunner', '--direct_running_mode=in_memory',
                     '--direct_num_workers=1')
# The Beam options by which the workers get petseg's code (TFX's dependency_utils looks for
# the same ones). Without any, each Beam step would package TFX's own sources for its
# workers (1.7 s a step, measured), a package that lacks petseg's code anyway.
_CODE_OPTIONS = ('sdk_container_image', 'worker_harness_container_image', 'setup_file',
                 'extra_packages', 'requirements_file')
# Workers that run in this process or as processes beside it, in this same Python: they
# have petseg already. Naming an image for them tells TFX so; they never pull it.
_SAME_PYTHON_IMAGE = 'unused:workers-share-this-python'


def _worker_image(options: Dict[str, Any]) -> Optional[str]:
  """The container image of the runner's workers: _SAME_PYTHON_IMAGE for the DirectRunner
  and for a portable runner whose environment is not a container (LOOPBACK, PROCESS,
  EXTERNAL, a subprocess); a portable runner's DOCKER environment_config; else None."""
  runner = str(options.get('runner') or 'DirectRunner').lower()
  if 'direct' in runner:
    return _SAME_PYTHON_IMAGE
  if 'dataflow' in runner:
    return None
  if 'docker' not in str(options.get('environment_type') or 'DOCKER').lower():
    return _SAME_PYTHON_IMAGE
  return options.get('environment_config')


def checked(user_args: Sequence[str]) -> List[str]:
  """The defaults, overridden by the user's (later arguments win), checked up front: Beam
  rejects a malformed option by exiting from inside a component, and drops an unknown
  one (a typo) with a warning only. The workers' image is made explicit (TFX then packages
  nothing), and a runner whose containers would lack petseg's code is refused."""
  args = [*DEFAULT_BEAM_ARGS, *user_args]
  parsers, message = [], io.StringIO()
  try:
    with contextlib.redirect_stderr(message):  # argparse's usage and error
      options = pipeline_options.PipelineOptions(args).get_all_options(
          add_extra_args_fn=parsers.append)
  except SystemExit:
    reason = (message.getvalue().strip().splitlines() or ['no reason given'])[-1]
    raise errors.ConfigError(
        f'Beam rejected the arguments {" ".join(user_args)}: {reason}') from None
  _, unknown = parsers[0].parse_known_args(args)
  if unknown:
    raise errors.ConfigError(f'Beam does not know the arguments {" ".join(unknown)} (after '
                             '"--"); check their spelling against Beam\'s pipeline options')
  if any(options.get(option) for option in _CODE_OPTIONS):
    return args
  image = _worker_image(options)
  if not image:
    raise errors.ConfigError(
        f'Beam\'s {options["runner"]} runs its workers in containers, which need petseg\'s '
        'code: pass --sdk_container_image=REGISTRY/petseg:TAG (kubeflow/Dockerfile) after '
        '"--"')
  return [*args, f'--sdk_container_image={image}']
