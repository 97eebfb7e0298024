"""The layers of docs/architecture.md: every module imports only from its own layer or the
layers below it, and no modules import each other in a cycle."""
import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Bottom to top. The top layer is petseg/ itself: the user tools.
LAYERS = (
    ('petseg.core', 'petseg.schemas'),
    ('petseg.models',),
    ('petseg.components',),
    ('petseg.pipeline',),
    ('petseg.kubeflow',),
    ('petseg',),
)


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


def _layer(module: str) -> int:
  """The layer of the package that holds `module` (a stage folder is in its parent's)."""
  layered = {p: i for i, layer in enumerate(LAYERS) for p in layer}
  package = module
  while package not in layered:
    package = package.rsplit('.', 1)[0]  # a module outside LAYERS ends at 'petseg'
  return layered[package]


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
  for module in _modules():
    _layer(module)  # StopIteration names a package outside LAYERS


def test_setup_py_installs_every_package_folder():
  """A stage folder that setup.py does not list works in a checkout but is missing from
  the wheel and the Kubeflow image."""
  listed = set(re.findall(r"^ +'(petseg[\w.]*)',$", (ROOT / 'setup.py').read_text(), re.M))
  folders = {name for name, path in _modules().items() if path.name == '__init__.py'}
  assert folders - listed == set()


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
