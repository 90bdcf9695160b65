"""The house rules that code review keeps missing, checked on every run: no import cycles in
crm/, arrows point down (services never import tasks, admin or webhooks; integrations never
touch the ORM), and no function or class that nothing uses."""

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("crm", "preview")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            if "migrations" not in path.parts}


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Every crm/preview module `module` imports, at any depth of its code (lazy imports too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known and name != module)
    return found


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {module: _imports(module, path, known) for module, path in sources.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_no_import_cycles_anywhere_in_crm():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_arrows_point_down():
    graph = _graph()
    wrong = []
    for module, imported in graph.items():
        for target in imported:
            if module.startswith("crm.services") and target.startswith(("crm.tasks", "crm.admin", "crm.webhooks")):
                wrong.append(f"{module} -> {target} (services never import tasks, admin or webhooks)")
            if module.startswith(("crm.admin", "preview")) and target.startswith("crm.tasks"):
                wrong.append(f"{module} -> {target} (the admin and views call services, never tasks)")
            if module.startswith("crm.integrations") and target.startswith(("crm.models", "crm.services")):
                wrong.append(f"{module} -> {target} (integrations are thin clients: no ORM, no services)")
            if module == "crm.enqueue" and target.startswith("crm.services"):
                wrong.append(f"{module} -> {target} (enqueueing imports no services)")
    assert wrong == []


# Names used from outside Python code in crm/ and preview/: URL names, Django's hooks, tasks by path.
ENTRY_POINTS = {"Command", "CrmConfig", "PreviewConfig", "urlpatterns", "app_name", "dashboard_callback",
                "environment_callback", "badge_callback"}


def test_nothing_is_defined_that_nothing_uses():
    """A top-level function or class whose name appears nowhere but its own definition is dead
    (names that Django or django-q2 find by path appear in settings, templates or strings)."""
    texts = {path: path.read_text() for folder in ("crm", "preview", "settings", "templates", "bench", "tests")
             for path in (ROOT / folder).rglob("*") if path.suffix in (".py", ".html", ".js") and path.is_file()}
    words = defaultdict(int)
    for text in texts.values():
        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
            words[word] += 1
    dead = []
    for module, path in _sources().items():
        for node in ast.parse(texts[path]).body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef) or node.decorator_list:
                continue
            if node.name in ENTRY_POINTS or node.name.startswith("__"):
                continue
            if words[node.name] <= 1:
                dead.append(f"{module}.{node.name}")
    assert dead == []


def test_demo_data_is_not_a_service_and_benchmarks_do_not_import_tests():
    assert not (ROOT / "crm" / "services" / "demo").exists()
    assert (ROOT / "crm" / "demo" / "seed.py").exists()
    offenders = [path.name for path in (ROOT / "bench").glob("*.py")
                 if re.search(r"^\s*(from|import) tests\b", path.read_text(), re.M)]
    assert offenders == []
