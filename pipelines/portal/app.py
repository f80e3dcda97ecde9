"""The portal's FastAPI app: every page as HTML, CSV (``?format=csv&section=``) or JSON
(``?format=json``), each request checked against the caller's role first.

``role_dependency`` is a FastAPI dependency returning the caller's :class:`Role` (or None):
Airflow's logged-in user inside the api-server (:mod:`pipelines.portal.plugin`), the local
user's role standalone (:mod:`pipelines.portal.command`).
"""

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from pipelines.portal import html
from pipelines.portal.access import PAGES as ACCESS
from pipelines.portal.access import Role, allowed
from pipelines.portal.pages import PAGES, Page
from pipelines.settings import Settings

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'self'"
)


def _visible(role: Role) -> list[str]:
    return [page for page in PAGES if allowed(page, role)]


def _html(page: Page, key: str, role: Role, request: Request, base: str) -> str:
    body = [
        html.tools(str(request.url.path) + ("?" + request.url.query if request.url.query else ""))
    ]
    for section in page.sections:
        body.append(f"<h2>{html.e(section.title or section.name.replace('_', ' '))}</h2>")
        if section.note:
            body.append(f"<p class=note>{html.e(section.note)}</p>")
        body.append(section.html)
        body.append(html.table(section.rows, section.columns, links=section.links))
    return html.page(page.title, key, "".join(body), base=base, visible=_visible(role))


def _render(page: Page, key: str, role: Role, request: Request, base: str) -> Response:
    fmt = request.query_params.get("format", "html")
    if fmt == "json":
        payload = {
            "title": page.title,
            "sections": {
                s.name: [{c: r.get(c) for c in s.columns} for s in [s] for r in s.rows]
                for s in page.sections
            },
        }
        return JSONResponse(json.loads(json.dumps(payload, default=str)))
    if fmt == "csv":
        wanted = request.query_params.get("section") or page.sections[0].name
        section = next((s for s in page.sections if s.name == wanted), page.sections[0])
        return PlainTextResponse(
            html.to_csv(section.rows, section.columns),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{key}-{section.name}.csv"'},
        )
    return HTMLResponse(_html(page, key, role, request, base))


def _denied(key: str, role: Role | None) -> Response:
    who = role.value if role else "no portal role"
    text = f"Your role ({who}) may not read the {key} page."
    return HTMLResponse(
        html.page(
            "Not allowed",
            "",
            f"<p>{html.e(text)}</p>",
            base="",
            visible=_visible(role) if role else [],
        ),
        status_code=403,
    )


def _handler(settings: Settings, key: str, role_dep: Callable[..., Any], base: str) -> Any:
    async def handle(request: Request, role: Annotated[Role | None, Depends(role_dep)]) -> Response:
        if role is None or not allowed(key, role):
            return _denied(key, role)
        params = dict(request.query_params)
        try:
            page = PAGES[key](settings, params, role)
        except LookupError as exc:
            return HTMLResponse(
                html.page(
                    "Not found", key, f"<p>{html.e(exc)}</p>", base=base, visible=_visible(role)
                ),
                status_code=404,
            )
        response = _render(page, key, role, request, base)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Cache-Control"] = "no-store"
        return response

    handle.__name__ = f"portal_{key}"
    return handle


def create_app(
    settings: Settings, role_dependency: Callable[..., Any], *, base: str = ""
) -> FastAPI:
    """The portal app; ``base`` is the path it is mounted under (for links)."""
    app = FastAPI(title="Governance portal", docs_url=None, redoc_url=None, openapi_url=None)
    for key in PAGES:
        assert key in ACCESS, f"page {key} has no access rule"
        path = "/" if key == "overview" else f"/{key}"
        app.add_api_route(path, _handler(settings, key, role_dependency, base), methods=["GET"])
    return app
