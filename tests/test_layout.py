"""The package's layers (docs/architecture.md): imports run one way, from the commands down to
the network, with no circle (issue 25)."""

import ast
import os

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "srn_tf")


def _module_name(path):
    relative = os.path.relpath(path, ROOT)[:-len(".py")].split(os.sep)
    return ".".join(relative[:-1] if relative[-1] == "__init__" else relative)


def project_imports():
    """{module: set of srn_tf modules it imports}, from every import statement of every module,
    those inside functions included (a lazy import is an import all the same)."""
    files = [os.path.join(folder, name) for folder, _, names in os.walk(PACKAGE)
             for name in names if name.endswith(".py")]
    modules = {_module_name(path): path for path in files}
    graph = {}
    for name, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from srn_tf import cli` imports the module srn_tf.cli; `from srn_tf import
                # __version__` the package itself
                targets |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in
                            modules else node.module for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_package():
    graph = project_imports()
    assert "srn_tf.cli" in graph and "srn_tf.data" in graph    # the scan sees the modules
    assert "srn_tf.errors" in graph["srn_tf.cli"]              # and their imports
    assert cycles(graph) == []


def test_the_bottom_and_top_layers():
    graph = project_imports()
    # errors imports nothing of the project, backend only errors; cli knows only these two
    assert graph["srn_tf.errors"] == set() and graph["srn_tf.backend"] == {"srn_tf.errors"}
    assert graph["srn_tf.cli"] <= {"srn_tf.errors", "srn_tf.backend"}
    # no library module imports the command runner or the commands
    library = [m for m in graph if not m.startswith("srn_tf.commands") and m != "srn_tf.cli"]
    for module in library:
        assert not {t for t in graph[module] if t == "srn_tf.cli" or
                    t.startswith("srn_tf.commands")}, module
