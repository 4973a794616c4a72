"""The import graph keeps the shape DESIGN.md draws: no cycles, and arrows only one way.

Arrows run from the transports (jobs.api, jobs.admin, the management commands) to the
services, and from the services to the engine and the models; handlers never import the
engine. accounts is a base app (the scheduler imports it, never the other way round), web is
infrastructure that imports no app of the project, and ops may read the scheduler while the
scheduler never reads ops.

The graph is grimp's: every import statement in the project's packages, those inside
functions too (a deferred import still ties two modules together), but not those under
`if TYPE_CHECKING:`, which never run. Each failure names the cycle or the chain and where
its first import is written. To print the whole report:

    python -m tests.test_architecture
"""

import functools
import itertools
import sys
from collections import deque
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
# The project's top-level packages: its apps, the settings package and the shared ones.
PACKAGES = ("scheduler_project", "jobs", "handlers", "accounts", "ops", "web")
TRANSPORTS = ("jobs.api", "jobs.admin", "jobs.management")

# (importer, imported, how): no import of `imported` (or of anything inside it) by
# `importer` (or anything inside it). "chain" forbids any path of imports, "direct" only an
# import statement: handlers may call the services, which run the engine for them.
FORBIDDEN = (
    *[("jobs.engine", transport, "chain") for transport in TRANSPORTS],
    *[("jobs.services", transport, "chain") for transport in TRANSPORTS],
    *[("jobs.selectors", transport, "chain") for transport in TRANSPORTS],
    ("jobs.models", "jobs.services", "chain"),
    ("handlers", "jobs.engine", "direct"),
    ("jobs", "ops", "chain"),
    *[("accounts", app, "chain") for app in ("jobs", "handlers", "ops")],
    *[("web", app, "chain") for app in PACKAGES if app != "web"],
)


@functools.cache
def import_graph() -> grimp.ImportGraph:
    """Return the graph of the imports within the project's packages (built once)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)


# --- Finding cycles ---------------------------------------------------------------------


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the groups of two or more nodes that reach each other (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def shortest_cycle(edges: dict[str, set[str]], group: list[str]) -> list[str]:
    """Return a shortest cycle through the first node of `group`, as [a, b, ..., a]."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(edges.get(node, ())):
            if successor == start:
                return [*paths[node], start]
            if successor in members and successor not in paths:
                paths[successor] = [*paths[node], successor]
                queue.append(successor)
    raise AssertionError(f"{group} is not strongly connected")


def _cycles(edges: dict[str, set[str]], graph, *, as_packages: bool) -> list[str]:
    return [
        describe(shortest_cycle(edges, group), graph, as_packages=as_packages)
        for group in strongly_connected(edges)
    ]


def app_cycles(graph) -> list[str]:
    """Return the cycles between the project's top-level packages."""
    edges = {
        app: {
            other
            for other in PACKAGES
            if other != app
            and graph.direct_import_exists(importer=app, imported=other, as_packages=True)
        }
        for app in PACKAGES
    }
    return _cycles(edges, graph, as_packages=True)


def module_cycles(graph) -> list[str]:
    """Return the cycles between modules, and between the children of each package.

    The second catches packages that import each other through different modules
    (jobs.engine.a -> jobs.services.b and jobs.services.c -> jobs.engine.d) without any
    module importing itself back.
    """
    modules = {
        module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules
    }
    found = _cycles(modules, graph, as_packages=False)
    for package in sorted(m for m in graph.modules if graph.find_children(m)):
        children = sorted(graph.find_children(package))
        if not any(graph.find_children(child) for child in children):
            continue  # only modules below: the module cycles above already cover them
        edges = {
            child: {
                other
                for other in children
                if other != child
                and graph.direct_import_exists(importer=child, imported=other, as_packages=True)
            }
            for child in children
        }
        found += [f"inside {package}: {cycle}" for cycle in _cycles(edges, graph, as_packages=True)]
    return found


# --- Forbidden arrows -------------------------------------------------------------------


def forbidden_imports(graph) -> list[str]:
    """Return each FORBIDDEN arrow the code draws, with the chain that draws it."""
    found = []
    for importer, imported, how in FORBIDDEN:
        missing = [name for name in (importer, imported) if name not in graph.modules]
        if missing:
            # A rule about a module that was renamed away would pass forever: say so.
            found.append(f"FORBIDDEN names {', '.join(missing)}, not a module of the project")
            continue
        if how == "direct":
            if graph.direct_import_exists(importer=importer, imported=imported, as_packages=True):
                found.append(f"{importer} imports {imported}: {example(graph, importer, imported)}")
            continue
        chain = graph.find_shortest_chain(importer=importer, imported=imported, as_packages=True)
        if chain:
            found.append(
                f"{importer} reaches {imported}: {describe(list(chain), graph, as_packages=False)}"
            )
    return found


# --- Reporting ----------------------------------------------------------------------------


def describe(path: list[str], graph, *, as_packages: bool) -> str:
    """Return `path` as "a -> b -> c", with where each arrow's first import is written."""
    steps = [
        f"{importer} -> {imported} ({example(graph, importer, imported)})"
        if as_packages
        else f"{importer} -> {imported} ({_line(graph, importer, imported)})"
        for importer, imported in itertools.pairwise(path)
    ]
    return " ; ".join(steps)


def example(graph, importer: str, imported: str) -> str:
    """Return one import statement by which `importer` (or a module in it) imports
    `imported` (or a module in it), as "module:line"."""
    for module in sorted(_with_descendants(graph, importer)):
        targets = _with_descendants(graph, imported)
        for target in sorted(graph.find_modules_directly_imported_by(module) & targets):
            return f"{module} -> {target}, {_line(graph, module, target)}"
    return "no import found"


def _with_descendants(graph, module: str) -> set[str]:
    return {module, *graph.find_descendants(module)}


def _line(graph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    if not details:
        return "line unknown"
    first = min(details, key=lambda detail: detail["line_number"])
    return f"line {first['line_number']}: {first['line_contents']}"


def report() -> tuple[bool, str]:
    """Return whether the graph keeps its shape, and the report that says so."""
    graph = import_graph()
    sections = [
        ("Cycles between apps", app_cycles(graph)),
        ("Cycles between modules", module_cycles(graph)),
        ("Forbidden imports", forbidden_imports(graph)),
    ]
    lines = [f"Import graph of {', '.join(PACKAGES)}: {len(graph.modules)} modules."]
    for title, problems in sections:
        lines.append(f"{title}: {len(problems) or 'none'}")
        lines += [f"  - {problem}" for problem in problems]
    return all(not problems for _, problems in sections), "\n".join(lines)


# --- The tests ----------------------------------------------------------------------------


def test_no_cycle_between_apps():
    cycles = app_cycles(import_graph())
    assert not cycles, "Cycles between apps:\n" + "\n".join(cycles)


def test_no_cycle_between_modules():
    cycles = module_cycles(import_graph())
    assert not cycles, "Cycles between modules:\n" + "\n".join(cycles)


def test_no_forbidden_import():
    arrows = forbidden_imports(import_graph())
    assert not arrows, "Forbidden imports:\n" + "\n".join(arrows)


def test_the_check_finds_a_cycle_and_names_it():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    [group] = strongly_connected(edges)

    assert group == ["a", "b", "c"]
    assert shortest_cycle(edges, group) == ["a", "b", "c", "a"]


def test_the_check_finds_package_cycles_and_forbidden_chains():
    graph = grimp.ImportGraph()
    for module in {name for rule in FORBIDDEN for name in rule[:2]}:
        graph.add_module(module)
    for module in ("jobs.engine.claim", "jobs.services.jobs", "jobs.api.views"):
        graph.add_module(module)
    graph.add_import(
        importer="jobs.engine.claim",
        imported="jobs.services.jobs",
        line_number=3,
        line_contents="from jobs.services import jobs",
    )
    graph.add_import(
        importer="jobs.services", imported="jobs.engine", line_number=5, line_contents="x"
    )
    graph.add_import(
        importer="jobs.services.jobs", imported="jobs.api.views", line_number=7, line_contents="y"
    )

    assert module_cycles(graph) == [
        "inside jobs: jobs.engine -> jobs.services (jobs.engine.claim -> jobs.services.jobs, "
        "line 3: from jobs.services import jobs) ; jobs.services -> jobs.engine "
        "(jobs.services -> jobs.engine, line 5: x)"
    ]
    assert forbidden_imports(graph) == [
        "jobs.engine reaches jobs.api: jobs.engine.claim -> jobs.services.jobs (line 3: from "
        "jobs.services import jobs) ; jobs.services.jobs -> jobs.api.views (line 7: y)",
        "jobs.services reaches jobs.api: jobs.services.jobs -> jobs.api.views (line 7: y)",
    ]


if __name__ == "__main__":
    ok, text = report()
    print(text)
    sys.exit(0 if ok else 1)
