"""The Kubeflow image as kubeflow/Dockerfile builds it: replayed without a Docker daemon
(tests/image_replay.py), and built for real where a daemon answers. tests/
test_kfp_pipeline.py runs every step of the compiled pipeline in the replayed image."""
import os
import re
import shutil
import subprocess

import pytest

from tests import image_replay

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = 'import petseg.pipeline.pipeline, petseg.kubeflow.entrypoint'


def _in_image(image, *argv):
  return subprocess.run(list(argv), cwd=image.path(image.workdir), env=image.environ(),
                        capture_output=True, text=True, check=False)


def test_the_image_runs_petseg_from_its_install_in_an_empty_working_directory(image):
  assert image.workdir == '/home/petseg'
  assert os.listdir(image.path(image.workdir)) == []
  assert not os.path.exists(image.path('/tmp/petseg-src'))  # the copied source is gone
  assert image.env['TF_USE_LEGACY_KERAS'] == '1'
  found = _in_image(image, 'python', '-c', 'import petseg, petseg.pipeline, petseg.kubeflow; '
                    'print(petseg.__file__, petseg.pipeline.__file__, petseg.kubeflow.__file__)')
  assert found.returncode == 0, found.stderr
  site = os.path.join(image.root, 'opt', 'base-python')
  assert all(path.startswith(site) and '/site-packages/petseg/' in path
             for path in found.stdout.split()), found.stdout
  command = _in_image(image, 'petseg', 'compile', '--help')
  assert command.returncode == 0 and '--kfp-version' in command.stdout, command.stderr


def test_a_source_folder_named_like_the_package_in_the_working_directory_fails_the_build(
    tmp_path):
  """The layout this project had: the CLI's folder petseg/ copied into the WORKDIR the
  image's check and every step ran from, which Python imports in place of the install."""
  context = tmp_path / 'context'
  folders = dict(re.findall(r"'(petseg[\w.]*)': '(\w+)'",
                            open(os.path.join(ROOT, 'setup.py')).read()))
  for package, folder in folders.items():
    shutil.copytree(os.path.join(ROOT, folder),
                    context / ('petseg' if package == 'petseg' else folder),
                    ignore=shutil.ignore_patterns('__pycache__'))
  for name in ('constraints.txt', 'README.md', '.dockerignore'):
    shutil.copy(os.path.join(ROOT, name), context / name)
  with open(os.path.join(ROOT, 'setup.py')) as f:
    (context / 'setup.py').write_text(f.read().replace("'petseg': 'cli'", "'petseg': 'petseg'"))
  copies = ''.join(f'COPY {folder}/ {folder}/\n' for folder in
                   sorted({'petseg', *folders.values()} - {'cli'}))
  (context / 'Dockerfile').write_text(
      'FROM apache/beam_python3.10_sdk:2.59.0\nENV TF_USE_LEGACY_KERAS=1\n'
      'WORKDIR /opt/petseg\nCOPY setup.py constraints.txt README.md ./\n' + copies +
      f'RUN pip install -c constraints.txt . && python -c "{CHECK}"\n')
  with pytest.raises(image_replay.BuildFailed, match="No module named 'petseg.pipeline'"):
    image_replay.replay(str(context / 'Dockerfile'), str(context), str(tmp_path / 'root'))


def test_the_replay_refuses_what_it_cannot_stand_for(tmp_path):
  dockerfile = tmp_path / 'Dockerfile'
  for text, said in (('FROM python:3.12\n', 'Beam\'s SDK images only'),
                     ('FROM apache/beam_python3.10_sdk:2.59.0\nUSER nobody\n',
                      'USER: an instruction the replay does not know'),
                     ('FROM apache/beam_python3.10_sdk:2.59.0\nCOPY .venv/ x/\n',
                      'not found in the build context')):
    dockerfile.write_text(text)
    with pytest.raises(image_replay.BuildFailed, match=said):
      image_replay.replay(str(dockerfile), ROOT, str(tmp_path / 'root'))


def test_the_real_image_builds_and_imports_where_a_docker_daemon_answers(tmp_path):
  if shutil.which('docker') is None or subprocess.run(
      ['docker', 'info'], capture_output=True, check=False).returncode != 0:
    pytest.skip('no Docker daemon here (the replay above stands in for the build)')
  tag = 'petseg-test-image:replay-check'
  build = subprocess.run(['docker', 'build', '-f', 'kubeflow/Dockerfile', '-t', tag, '.'],
                         cwd=ROOT, capture_output=True, text=True, check=False)
  assert build.returncode == 0, build.stderr[-3000:]
  run = subprocess.run(['docker', 'run', '--rm', '--entrypoint', 'python', tag, '-c',
                        f'{CHECK}; import os; print(os.getcwd(), os.listdir("."))'],
                       capture_output=True, text=True, check=False)
  assert run.returncode == 0 and run.stdout.split() == ['/home/petseg', '[]'], run.stderr
