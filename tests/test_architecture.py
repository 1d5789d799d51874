"""The import directions of ARCHITECTURE.md hold: the import-linter contracts in pyproject.toml
are kept, and no module imports itself round a circle (deferred imports inside functions
count too), across packages as well as inside one."""

from __future__ import annotations

import logging
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hccwatch", "pipeline", "assess", "sources", "store", "digests", "alerts", "web",
            "flows", "replay")


def circles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """One chain per direct import a -> b for which b leads back to a."""
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                found.append((importer, *back))
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=False)


def test_the_import_contracts_are_kept(monkeypatch):
    monkeypatch.chdir(ROOT)
    # lint_imports configures logging with dictConfig, which disables every logger that exists
    # (hccwatch's too): give them back, or a later test in this process sees no log line.
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    disabled = {logger.name: logger.disabled for logger in loggers}
    try:
        assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True,
                            no_logo=True) == 0
    finally:
        for logger in loggers:
            logger.disabled = disabled[logger.name]


def test_the_graph_is_this_checkouts(graph):
    import pipeline

    assert Path(pipeline.__file__).resolve().parent.parent == ROOT
    assert {"pipeline.engine", "replay.server", "hccwatch.app"} <= graph.modules


def test_no_module_imports_itself_round_a_circle(graph):
    assert circles(graph) == []


def test_a_circle_through_a_deferred_import_is_found():
    graph = grimp.ImportGraph()
    for module in ("app.cli", "app.demo", "app.poll"):
        graph.add_module(module)
    graph.add_import(importer="app.cli", imported="app.demo")
    graph.add_import(importer="app.demo", imported="app.poll")
    graph.add_import(importer="app.poll", imported="app.cli")  # e.g. inside a function
    assert ("app.cli", "app.demo", "app.poll", "app.cli") in circles(graph)
