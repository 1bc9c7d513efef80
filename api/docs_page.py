"""The API docs page (Swagger UI) served entirely by Kizuki, under the same
Content-Security-Policy as every other page. Swagger UI 5 (which reads OpenAPI 3.1, the
version FastAPI writes) comes as files inside the ``fastapi-offline`` package, served at
``/api/docs-assets`` (no CDN); the few lines that start it are our own static file
(``/static/api-docs.js``), since the CSP blocks inline script. The OpenAPI document's
address travels in a ``data-`` attribute."""

from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/api/docs-assets"
STARTER = "/static/api-docs.js"
SWAGGER_UI_FILES = Path(fastapi_offline.__file__).parent / "static"


def docs_html(title: str, openapi_url: str) -> str:
    """The page: Swagger UI's stylesheet and bundle, then our starter script."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{STARTER}"></script>
</body>
</html>
"""


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve ``/api/docs`` with Swagger UI's files from ``/api/docs-assets``."""
    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI_FILES), name="docs-assets")
    page = docs_html(f"{app.title} API", openapi_url)

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)
