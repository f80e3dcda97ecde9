"""Each portal page in headless Chromium, as each role, at a desktop and a phone width:
it loads with no console error (nothing blocked, nothing fetched from outside), the overview
never overflows sideways, and a screenshot is taken (kept under the test's tmp path)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import Request

from pipelines.portal.access import PAGES, Role
from pipelines.portal.app import create_app
from tests.unit.portal import cdp

pytestmark = pytest.mark.skipif(cdp.chromium() is None, reason="headless Chromium not installed")

PATHS = {
    "overview": "/",
    "quality": "/quality",
    "lineage": "/lineage",
    "pii": "/pii",
    "releases": "/releases",
    "audit": "/audit",
}


def _header_role(request: Request) -> Role | None:
    """Test only: the browser names its role in a header (set through DevTools)."""
    value = request.headers.get("x-test-role")
    return Role(value) if value else None


@pytest.fixture(scope="module")
def server(portal_data) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(portal_data.settings, _header_role),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline, "portal server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def tab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cdp.Tab]:
    with cdp.browser(tmp_path_factory.mktemp("chromium")) as t:
        yield t


@pytest.mark.parametrize("width", [1400, 390])
@pytest.mark.parametrize("role", list(Role))
def test_every_page_renders_for_every_role(server, tab, role, width, tmp_path: Path):
    for page, path in PATHS.items():
        tab.errors.clear()
        tab.open(server + path, width, {"x-test-role": role.value})
        shot = tmp_path / f"{page}-{role.value}-{width}.png"
        tab.screenshot(shot)
        assert shot.stat().st_size > 5_000
        heading = tab.evaluate(
            "document.querySelector('h1') && document.querySelector('h1').textContent"
        )
        errors = tab.errors
        if role in PAGES[page]:
            assert heading and heading != "Not allowed", (page, role)
        else:
            assert heading == "Not allowed", (page, role)
            refused = "the server responded with a status of 403"
            errors = [e for e in errors if refused not in e]  # the refusal itself
        assert errors == [], (page, role, width, errors)
        sheets = tab.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
        assert sheets == "rgb(29, 36, 51)"  # the inline stylesheet applied


@pytest.mark.parametrize("width", [1400, 390])
@pytest.mark.parametrize("path", ["/", "/lineage", "/quality"])
def test_pages_never_overflow_sideways(server, tab, width, path):
    tab.open(server + path, width, {"x-test-role": "governance"})
    scroll, inner = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{path} is {scroll}px wide in a {inner}px window"


@pytest.mark.parametrize("width", [1400, 390])
def test_the_lineage_graph_is_drawn_within_the_window(server, tab, width, portal_data):
    from pipelines.portal.lineage import datasets_by_layer, load

    tab.open(server + "/lineage", width, {"x-test-role": "ml"})
    boxes, right = tab.evaluate(
        "[document.querySelectorAll('svg.graph rect').length,"
        " document.querySelector('svg.graph').getBoundingClientRect().right]"
    )
    layers = datasets_by_layer(load(portal_data.settings, None))
    labels = {(layer, name) for layer, items in layers.items() for name, _ in items}
    assert boxes == len(labels) > 0  # one box per dataset name (a landing table's files share)
    assert right <= width


def test_validations_render_offline_with_status_and_severity(server, tab, portal_data):
    """What GX Data Docs show (the list of validations, each check's status icon, severity,
    observed and expected values), with no request leaving localhost."""
    from pipelines.quality.store import read_checks
    from tests.unit.portal.conftest import RUN

    stored = read_checks(portal_data.settings)
    tab.errors.clear()
    tab.open(server + "/quality", 1400, {"x-test-role": "ml"})
    listed = tab.evaluate(
        "[...document.querySelectorAll('td a[href*=\"run_id=\"]')].map(a => a.search)"
    )
    assert len(listed) == len({(r["table"], r["run_id"]) for r in stored})
    requested = tab.requests()
    tab.open(server + f"/quality?run_id={RUN}&table=orders", 1400, {"x-test-role": "ml"})
    requested += tab.requests()
    assert requested and all(u.startswith(server) or u.startswith("data:") for u in requested)
    assert tab.errors == []
    header = tab.evaluate("[...document.querySelectorAll('th')].map(th => th.textContent)")
    assert {"severity", "outcome", "observed_value", "expected"} <= set(header)
    rows = tab.evaluate("document.querySelectorAll('tbody tr').length")
    assert rows == sum(r["table"] == "orders" for r in stored)
    icon = tab.evaluate("getComputedStyle(document.querySelector('td.passed'), '::before').content")
    assert "\u2714" in icon
