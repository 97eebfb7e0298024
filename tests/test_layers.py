"""The layers of docs/architecture.md: every module imports only from its own layer or the
layers below it, and no modules import each other in a cycle."""
import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Bottom to top. The top layer is `petseg` itself (the folder cli/): the user tools. Every
# package setup.py installs is listed here, or is a stage folder inside a listed one
# (petseg.components.example_gen); a new package must be given its layer.
LAYERS = (
    ('petseg.core', 'petseg.schemas'),
    ('petseg.models',),
    ('petseg.records',),
    ('petseg.registry',),
    ('petseg.components',),
    ('petseg.pipeline',),
    ('petseg.kubeflow',),
    ('petseg',),
)
_LAYERED = {package: i for i, layer in enumerate(LAYERS) for package in layer}


def _modules():
  """{module name: path} of every module setup.py installs."""
  package_dir = dict(re.findall(r"'(petseg[\w.]*)': '(\w+)'",
                                (ROOT / 'setup.py').read_text()))
  modules = {}
  for package, folder in package_dir.items():
    for path in sorted((ROOT / folder).rglob('*.py')):
      name = '.'.join((package, *path.relative_to(ROOT / folder).with_suffix('').parts))
      modules[name[:-len('.__init__')] if name.endswith('.__init__') else name] = path
  return modules


def _packages():
  """The package names that setup.py installs."""
  return set(re.findall(r"^ +'(petseg[\w.]*)',$", (ROOT / 'setup.py').read_text(), re.M))


def _layer(module: str, packages=None) -> int:
  """The layer of the package that holds `module`: a listed package, or a stage folder
  inside a listed package other than `petseg` itself. Raises LookupError for a module of a
  package LAYERS does not list."""
  packages = _packages() if packages is None else packages
  package = module if module in packages else module.rsplit('.', 1)[0]
  while package not in _LAYERED:
    parent = package.rsplit('.', 1)[0]
    if parent == 'petseg' or '.' not in package:
      raise LookupError(f'{module}: its package {package} has no layer in '
                        'tests/test_layers.py\'s LAYERS')
    package = parent
  return _LAYERED[package]


def _imports(path: pathlib.Path, known) -> set:
  """The modules of ours that a module imports, at the top or inside functions."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('petseg'):
      for alias in node.names:
        full = f'{node.module}.{alias.name}'
        found.add(full if full in known else node.module)
    elif isinstance(node, ast.Import):
      found.update(a.name for a in node.names if a.name.startswith('petseg'))
  return {m for m in found if m in known and m != 'petseg'}


def _graph():
  modules = _modules()
  return {module: _imports(path, modules) for module, path in modules.items()}


def test_every_module_is_in_a_layer():
  packages = _packages()
  unlayered = []
  for module in _modules():
    try:
      _layer(module, packages)
    except LookupError as e:
      unlayered.append(str(e))
  assert not unlayered, '\n'.join(unlayered)


def test_a_package_left_out_of_the_table_has_no_layer():
  """A new package under petseg, or a module at its top, is never taken for the top
  layer's: only `petseg`'s own modules are."""
  packages = _packages() | {'petseg.newstage', 'petseg.newstage.sub'}
  for module in ('petseg.newstage', 'petseg.newstage.reader', 'petseg.newstage.sub.x'):
    with pytest.raises(LookupError, match='has no layer'):
      _layer(module, packages)
  assert _layer('petseg.cli', packages) == len(LAYERS) - 1
  assert _layer('petseg.components.example_gen.items', packages) == _layer('petseg.components')


def test_setup_py_installs_every_package_folder():
  """A stage folder that setup.py does not list works in a checkout but is missing from
  the wheel and the Kubeflow image."""
  folders = {name for name, path in _modules().items() if path.name == '__init__.py'}
  assert folders - _packages() == set()


def test_no_folder_of_the_checkout_is_named_like_the_installed_package():
  """Python puts the working directory first on sys.path: a folder named petseg/ at the
  root would be imported in place of the install whenever a command runs from there (the
  image's check, `python -m petseg...`)."""
  assert not (ROOT / 'petseg').exists()
  assert dict(re.findall(r"'(petseg[\w.]*)': '(\w+)'",
                         (ROOT / 'setup.py').read_text()))['petseg'] != 'petseg'


def test_no_module_imports_from_a_layer_above_its_own():
  upward = [f'{module} (layer {_layer(module)}) imports {dep} (layer {_layer(dep)})'
            for module, deps in _graph().items() for dep in sorted(deps)
            if _layer(dep) > _layer(module)]
  assert not upward, '\n'.join(upward)


def test_the_bottom_layer_imports_nothing_else_of_ours():
  bottom = [f'{module} imports {dep}' for module, deps in _graph().items()
            if _layer(module) == 0 for dep in deps if _layer(dep) != 0]
  assert not bottom, '\n'.join(bottom)


def test_there_is_no_import_cycle():
  graph = _graph()
  index, low, stack, on_stack, cycles = {}, {}, [], set(), []

  def visit(v):  # Tarjan's strongly connected components
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      group = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        group.append(w)
        if w == v:
          break
      if len(group) > 1:
        cycles.append(sorted(group))

  for v in graph:
    if v not in index:
      visit(v)
  assert not cycles, cycles
