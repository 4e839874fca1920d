"""The import graph (scripts/import_graph.py, built by grimp from every import statement): arrows
point down only, requests_app -> authorities -> portal, so portal imports no app; and no import
cycle between the modules of a package. No database: the source is read, not run."""

import importlib.util

import pytest

from tests.processes import ROOT

spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_graph)

# The outbox change of issue 15 (another helper's, not committed when this test was written)
# breaks the loop alerts -> notifications -> tasks -> alerts and has requests_app register its
# health count instead of portal.health importing it. Until it lands, exactly these are expected;
# anything else fails.
KNOWN_OUTBOX_CYCLE = ["requests_app.alerts", "requests_app.notifications", "requests_app.tasks"]
KNOWN_HEALTH_IMPORT = "portal.health:52 -> requests_app.alerts"


@pytest.fixture(scope="module")
def graph():
    return import_graph.build()


def test_portal_imports_no_app_and_authorities_does_not_import_requests_app(graph):
    found = import_graph.upward_imports(graph)
    if found == [KNOWN_HEALTH_IMPORT]:
        pytest.xfail("portal.health imports requests_app.alerts until the outbox change lands")
    assert found == []


@pytest.mark.parametrize("package", import_graph.LAYERS)
def test_no_import_cycle_between_the_modules_of_a_package(graph, package):
    found = import_graph.cycles(graph, package)
    if package == "requests_app" and found == [KNOWN_OUTBOX_CYCLE]:
        pytest.xfail("the loop alerts -> notifications -> tasks until the outbox change lands")
    assert found == []


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
