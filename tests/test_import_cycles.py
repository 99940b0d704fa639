"""No import cycle among crm_spark's modules, counting imports inside functions: only the runner
(``pipeline``) imports the stages, and the stages take their run context from ``context``."""

from __future__ import annotations

import ast

from tests.conftest import PROJECT


def import_graph() -> dict[str, set[str]]:
    package = PROJECT / "crm_spark"
    modules = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(PROJECT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # a module importing its own package (or the top package) is not a cycle of the flow
                if target and target != name and target != "crm_spark" and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    path: list[str] = []
    found = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def test_the_graph_sees_imports_inside_functions():
    assert "crm_spark.gold" in import_graph()["crm_spark.pipeline"]   # imported lazily in stages()


def test_no_import_cycle_among_crm_spark_modules():
    assert [" -> ".join(c) for c in cycles(import_graph())] == []
