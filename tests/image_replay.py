"""Replays a Dockerfile without a Docker daemon (these machines have none): the image the
Kubeflow steps run in, as tests/kfp_harness.py starts them. A test helper, not a builder.

What the replay stands for:
- FROM: the base image's Python with its packages is a fresh virtual environment of this
  interpreter that also sees this environment's installed packages (a path line, so the
  checkout's editable install of petseg is not active there) and nothing else; its
  Python and Beam versions must be the ones the base image's tag names.
- The image's file system: a folder, `root`, holding only what the Dockerfile writes
  (WORKDIR, COPY from the build context less .dockerignore). A RUN command runs in
  `/bin/sh -c` from the current WORKDIR (mapped into `root`), with the ARGs and ENVs in
  its environment and the virtual environment first on PATH; the container paths the
  Dockerfile made are mapped into `root` in its text.
- An instruction the replay does not know fails it, so that a change to the Dockerfile
  cannot pass untested.
"""
import dataclasses
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from typing import Dict, List, Optional

_SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin'
_IGNORED = ('LABEL', 'ENTRYPOINT', 'CMD', 'EXPOSE')  # nothing the steps' start depends on
_VARIABLE = re.compile(r'\$\{(\w+)\}|\$(\w+)')


class BuildFailed(AssertionError):
  pass


@dataclasses.dataclass(frozen=True)
class Image:
  """A replayed image: its file system under `root`, the working directory its containers
  start in, the environment it sets (ENV), and the folder of its `python`."""
  root: str
  workdir: str
  env: Dict[str, str]
  bin: str

  def path(self, container_path: str) -> str:
    """Where a path of the image's file system is on this machine."""
    return os.path.join(self.root, container_path.lstrip('/'))

  def environ(self) -> Dict[str, str]:
    """A container's environment before the pod adds to it: the image's PATH and ENV."""
    return {'PATH': f'{self.bin}:{_SYSTEM_PATH}', **self.env}


def _instructions(text: str) -> List[List[str]]:
  """[instruction, rest] of each line, continuation lines joined, comments dropped."""
  lines, current = [], ''
  for line in text.splitlines():
    if not current and line.lstrip().startswith('#'):
      continue
    if line.rstrip().endswith('\\'):
      current += line.rstrip()[:-1] + ' '
      continue
    current += line
    if current.strip():
      word, _, rest = current.strip().partition(' ')
      lines.append([word.upper(), rest.strip()])
    current = ''
  return lines


def _ignored(context: str) -> List[str]:
  path = os.path.join(context, '.dockerignore')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [line.strip().rstrip('/') for line in f
            if line.strip() and not line.startswith('#')]


def _is_ignored(relative: str, patterns: List[str]) -> bool:
  parts = relative.split('/')
  for pattern in patterns:
    for i in range(1, len(parts) + 1):  # a pattern matching a folder excludes its contents
      prefix = '/'.join(parts[:i])
      if fnmatch.fnmatch(prefix, pattern) or (
          pattern.startswith('**/') and fnmatch.fnmatch(parts[i - 1], pattern[3:])):
        return True
  return False


def _expand(text: str, variables: Dict[str, str]) -> str:
  return _VARIABLE.sub(lambda m: variables.get(m[1] or m[2], ''), text)


def _copy(context: str, sources: List[str], dest: str, patterns: List[str]) -> None:
  """COPY: a file to a file or into a folder (dest ending in /), a folder's contents into
  dest; what .dockerignore excludes is not in the context."""
  for source in sources:
    relative = os.path.normpath(source)
    path = os.path.join(context, relative)
    if not os.path.exists(path) or (relative != '.' and _is_ignored(relative, patterns)):
      raise BuildFailed(f'COPY {source}: not found in the build context')
    if os.path.isfile(path):
      target = os.path.join(dest, os.path.basename(path)) if dest.endswith('/') else dest
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.copy2(path, target)
      continue
    for folder, dirs, files in os.walk(path):
      inside = os.path.relpath(folder, context)
      dirs[:] = [d for d in dirs if not _is_ignored(os.path.normpath(
          os.path.join(inside, d)), patterns)]
      for name in files:
        if _is_ignored(os.path.normpath(os.path.join(inside, name)), patterns):
          continue
        target = os.path.join(dest, os.path.relpath(os.path.join(folder, name), path))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(folder, name), target)


def _base(image: str, root: str) -> str:
  """FROM: the virtual environment standing for the base image; returns its bin folder."""
  match = re.fullmatch(r'apache/beam_python(\d+\.\d+)_sdk:(\S+)', image)
  if not match:
    raise BuildFailed(f'FROM {image}: the replay stands in for Beam\'s SDK images only')
  import apache_beam  # pylint: disable=g-import-not-at-top
  here = f'{sys.version_info.major}.{sys.version_info.minor}'
  if (match[1], match[2]) != (here, apache_beam.__version__):
    raise BuildFailed(f'FROM {image}: this environment has Python {here} and Beam '
                      f'{apache_beam.__version__}')
  venv = os.path.join(root, 'opt', 'base-python')
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', venv], check=True)
  site = subprocess.run([os.path.join(venv, 'bin', 'python'), '-c',
                         'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                        capture_output=True, text=True, check=True).stdout.strip()
  with open(os.path.join(site, 'base-image-packages.pth'), 'w') as f:
    f.write(sysconfig.get_paths()['purelib'] + '\n')
  # pip itself, as the base image has it (the one of this environment, seen by the path).
  with open(os.path.join(venv, 'bin', 'pip'), 'w') as f:
    f.write(f'#!/bin/sh\nexec "{venv}/bin/python" -m pip "$@"\n')
  os.chmod(os.path.join(venv, 'bin', 'pip'), 0o755)
  return os.path.join(venv, 'bin')


def replay(dockerfile: str, context: str, root: str,
           build_args: Optional[Dict[str, str]] = None) -> Image:
  """Builds the image of `dockerfile` (its context the folder `context`) into `root`.
  Raises BuildFailed naming the instruction that fails, with its output."""
  with open(dockerfile) as f:
    instructions = _instructions(f.read())
  patterns = _ignored(context)
  args: Dict[str, str] = {}
  env: Dict[str, str] = {}
  made: List[str] = []  # container paths the Dockerfile made, for RUN's text
  workdir, bin_dir = '/', None
  os.makedirs(root, exist_ok=True)

  def on_disk(container_path: str) -> str:
    return os.path.join(root, container_path.lstrip('/'))

  for word, rest in instructions:
    variables = {**args, **env}
    if word == 'FROM':
      if bin_dir:
        raise BuildFailed('FROM: the replay builds one stage')
      bin_dir = _base(_expand(rest, variables), root)
    elif word == 'ARG':
      name, _, default = rest.partition('=')
      args[name] = (build_args or {}).get(name, default)
    elif word == 'ENV':
      env.update(dict(re.findall(r'(\w+)=(\S*)', _expand(rest, variables))))
    elif word == 'WORKDIR':
      workdir = os.path.join(workdir, _expand(rest, variables))
      os.makedirs(on_disk(workdir), exist_ok=True)
      made.append(workdir)
    elif word == 'COPY':
      *sources, dest = shlex.split(_expand(rest, variables))
      if any(s.startswith('--') for s in sources):
        raise BuildFailed(f'COPY {rest}: the replay copies from the context only')
      target = os.path.join(workdir, dest)
      _copy(context, sources, on_disk(target) + ('/' if dest.endswith('/') else ''),
            patterns)
      made.append(target.rstrip('/'))
    elif word == 'RUN':
      if bin_dir is None:
        raise BuildFailed('RUN before FROM')
      command = rest
      for path in sorted(set(made), key=len, reverse=True):
        if path != '/':
          command = re.sub(rf'(?<![\w/.-]){re.escape(path)}(?=[/\s"\']|$)',
                           on_disk(path), command)
      run_env = {'PATH': f'{bin_dir}:{_SYSTEM_PATH}', 'HOME': on_disk('/root'),
                 **args, **env}
      os.makedirs(run_env['HOME'], exist_ok=True)
      result = subprocess.run(['/bin/sh', '-c', command], cwd=on_disk(workdir),
                              env=run_env, capture_output=True, text=True, check=False)
      if result.returncode:
        raise BuildFailed(f'RUN {rest} exited {result.returncode}:\n'
                          f'{(result.stdout + result.stderr)[-3000:]}')
    elif word not in _IGNORED:
      raise BuildFailed(f'{word}: an instruction the replay does not know')
  if bin_dir is None:
    raise BuildFailed('no FROM')
  return Image(root=root, workdir=workdir, env=env, bin=bin_dir)
