"""The governance portal inside Airflow's api-server, behind Airflow's login.

Starts a real ``airflow api-server`` (SQLite metadata, the SimpleAuthManager with three users:
an admin, an operator and a viewer) and calls the portal's pages the way a browser and an API
client would: without a login, and with each user's JWT from ``POST /auth/token``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import deploy
from pipelines.demo import airflow_env
from pipelines.settings import Settings
from tests.conftest import InstallAirflowDb

pytestmark = pytest.mark.integration

USERS = {"gov": "admin", "eng": "op", "ml": "viewer"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(
    url: str,
    token: str | None = None,
    *,
    accept: str = "application/json",
    data: bytes | None = None,
) -> tuple[int, str, dict[str, str]]:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if data is not None:
        headers["Content-Type"] = "application/json"

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=data, headers=headers), timeout=60) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


@pytest.fixture(scope="module")
def api_server(
    tmp_path_factory: pytest.TempPathFactory, airflow_db: InstallAirflowDb
) -> Iterator[tuple[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("portal-airflow")
    settings = Settings(data_dir=root / "data")
    passwords = {user: f"pw-{user}-{int(time.time())}" for user in USERS}
    password_file = root / "passwords.json"
    password_file.write_text(json.dumps(passwords))
    port = _free_port()
    env = airflow_env(
        settings,
        {
            "AIRFLOW__CORE__AUTH_MANAGER": deploy.AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{u}:{r}" for u, r in USERS.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__API_AUTH__JWT_SECRET": "portal-test-secret-" + "x" * 32,
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        },
    )
    log = root / "airflow.log"
    airflow_db(env)  # migrated once per session (prepare_airflow)
    airflow = str(Path(sys.executable).parent / "airflow")
    with log.open("a") as out:
        proc = subprocess.Popen(
            [airflow, "api-server", "--port", str(port), "--host", "127.0.0.1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"api-server exited: {log.read_text()[-3000:]}")
            try:
                if _request(base + "/api/v2/monitor/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"api-server did not answer in 300 s: {log.read_text()[-3000:]}")
        tokens = {}
        for user, password in passwords.items():
            body = json.dumps({"username": user, "password": password}).encode()
            status, text, _ = _request(base + "/auth/token", data=body)
            assert status in (200, 201), text
            tokens[user] = json.loads(text)["access_token"]
        yield base, tokens
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_portal_needs_an_airflow_login(api_server):
    base, _ = api_server
    status, _, _ = _request(base + "/governance/")
    assert status == 401
    status, _, headers = _request(base + "/governance/pii", accept="text/html")
    assert status in (302, 303, 307) and "/auth/login" in headers["location"]


@pytest.mark.parametrize(
    ("user", "page", "expected"),
    [
        ("gov", "/", 200),
        ("gov", "/pii", 200),
        ("gov", "/audit", 200),
        ("eng", "/pii", 200),
        ("eng", "/audit", 200),
        ("eng", "/quality", 200),
        ("ml", "/quality", 200),
        ("ml", "/lineage", 200),
        ("ml", "/releases", 200),
        ("ml", "/pii", 403),
        ("ml", "/audit", 403),
    ],
)
def test_each_airflow_user_gets_their_role(api_server, user, page, expected):
    base, tokens = api_server
    status, text, _ = _request(base + "/governance" + page, tokens[user], accept="text/html")
    assert status == expected, text[:500]
    if expected == 200:
        assert "Governance portal" in text


def test_airflow_lists_the_portal_in_its_navigation_and_on_dag_runs(api_server):
    base, tokens = api_server
    status, text, _ = _request(base + "/api/v2/plugins", tokens["gov"])
    assert status == 200, text
    [plugin] = [p for p in json.loads(text)["plugins"] if p["name"] == "governance_portal"]
    views = {v["destination"]: v["href"] for v in plugin["external_views"]}
    assert views["nav"] == "/governance/"
    assert "{RUN_ID}" in views["dag_run"]
