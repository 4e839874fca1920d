"""The import graph (scripts/import_graph.py, built by grimp from every import statement): arrows
point down only, requests_app -> authorities -> portal, so portal imports no app; and no import
cycle between the modules of a package. No database: the source is read, not run."""

import importlib.util

import pytest

from tests.processes import ROOT

spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_graph)


@pytest.fixture(scope="module")
def graph():
    return import_graph.build()


def test_portal_imports_no_app_and_authorities_does_not_import_requests_app(graph):
    assert import_graph.upward_imports(graph) == []


@pytest.mark.parametrize("package", import_graph.LAYERS)
def test_no_import_cycle_between_the_modules_of_a_package(graph, package):
    assert import_graph.cycles(graph, package) == []


def test_the_checks_report_an_upward_import_and_a_cycle():
    """The checks above can fail: on the real graph plus two imports, each is reported."""
    graph = import_graph.build()
    graph.add_import(
        importer="portal.views", imported="authorities.views", line_number=3, line_contents="x"
    )
    graph.add_import(
        importer="requests_app.models",
        imported="requests_app.views",
        line_number=9,
        line_contents="x",
    )
    assert "portal.views:3 -> authorities.views" in import_graph.upward_imports(graph)
    assert any(
        {"requests_app.models", "requests_app.views"} <= set(group)
        for group in import_graph.cycles(graph, "requests_app")
    )
