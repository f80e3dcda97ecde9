"""The Airflow plugin that mounts the portal: every Airflow process loads the plugins (each
task's process among them), so loading it must not build the portal's app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = (
    "import json, sys\n"
    "import airflow.plugins_manager\n"
    "before = set(sys.modules)\n"
    "from pipelines.portal.plugin import GovernancePortalPlugin\n"
    "print(json.dumps(sorted(set(sys.modules) - before)))\n"
)


def test_loading_the_plugin_imports_neither_fastapi_nor_the_portal(tmp_path: Path):
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = json.loads(done.stdout.splitlines()[-1])
    assert "pipelines.portal.plugin" in imported  # the probe measured the plugin's import
    heavy = [m for m in imported if m.split(".")[0] == "fastapi" or m == "pipelines.portal.app"]
    assert heavy == []


def test_the_api_server_gets_the_portal_app_under_its_prefix():
    from fastapi import FastAPI

    from pipelines.portal.plugin import PREFIX, GovernancePortalPlugin

    plugin = GovernancePortalPlugin()
    (entry,) = plugin.fastapi_apps
    assert entry["url_prefix"] == PREFIX == "/governance"
    assert isinstance(entry["app"], FastAPI)
    assert plugin.fastapi_apps[0]["app"] is entry["app"]  # built once
