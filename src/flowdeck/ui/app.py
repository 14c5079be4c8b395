"""Mount the UI on the API's app: pages, static files, and offline /docs and /redoc."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

from flowdeck.ui.pages import admin, auth, editor, inbox, runs, workflow, workflows

STATIC = Path(__file__).parent / "static"
# Swagger UI and ReDoc ship inside the fastapi-offline wheel: no CDN is needed to read the docs.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"


def install_ui(app: FastAPI) -> None:
    """Add the UI's routes and files to `app` (created with docs_url=None, redoc_url=None)."""
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.mount("/ui/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    for module in (auth, workflows, workflow, editor, runs, inbox, admin):
        app.include_router(module.router)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/ui/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/ui/docs-assets/swagger-ui.css",
            swagger_favicon_url="/ui/docs-assets/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            redoc_js_url="/ui/docs-assets/redoc.standalone.js",
            redoc_favicon_url="/ui/docs-assets/favicon.png",
            with_google_fonts=False,
        )
