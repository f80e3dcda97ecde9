"""The portal inside Airflow's api-server, behind Airflow's login.

Registered through the ``airflow.plugins`` entry point (``pyproject.toml``), mounted at
``/governance``: a "Governance" entry in Airflow's navigation and a "Quality" tab on every
DAG run link to it. Each request resolves the caller with Airflow's own ``get_user`` (the JWT
cookie the UI sets at login, or a bearer token) and maps their Airflow roles to a portal role
(:func:`pipelines.portal.access.role_of_airflow_user`). A browser that is not logged in is
sent to Airflow's login page.
"""

import functools
import json
import os
from typing import Annotated, Any

from airflow.plugins_manager import AirflowPlugin

PREFIX = "/governance"


def _role_mapping() -> dict[str, str] | None:
    """``PIPELINES_PORTAL_ROLES``: JSON of Airflow role -> portal role, e.g.
    ``{"Admin": "governance", "Op": "engineering", "Viewer": "ml"}``."""
    text = os.environ.get("PIPELINES_PORTAL_ROLES")
    return json.loads(text) if text else None


def build_app() -> Any:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, Request
    from fastapi.exceptions import HTTPException
    from fastapi.responses import RedirectResponse

    from pipelines.portal.access import Role, role_of_airflow_user
    from pipelines.portal.app import create_app
    from pipelines.settings import Settings

    mapping = _role_mapping()

    async def airflow_role(user: Annotated[Any, Depends(get_user)]) -> Role | None:
        return role_of_airflow_user(user, mapping)

    app = create_app(Settings(), airflow_role, base=PREFIX)

    @app.exception_handler(HTTPException)
    async def _login(request: Request, exc: HTTPException) -> Any:
        if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)))
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    return app


class GovernancePortalPlugin(AirflowPlugin):
    name = "governance_portal"
    external_views = [  # noqa: RUF012 (AirflowPlugin declares these as plain attributes)
        {
            "name": "Governance",
            "href": f"{PREFIX}/",
            "destination": "nav",
            "url_route": "governance",
        },
        {
            "name": "Quality",
            "href": f"{PREFIX}/quality?run_id={{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "governance_run_quality",
        },
    ]

    @functools.cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The portal app, built when the api-server asks for it: every Airflow process loads
        the plugins (the scheduler, each CLI command, each task's process), and building the
        app imports FastAPI, Airflow's API and the portal (~0.8 CPU s each)."""
        return [{"app": build_app(), "url_prefix": PREFIX, "name": "Governance portal"}]
