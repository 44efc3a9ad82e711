"""`/api/billing/docs`: the API reference, Swagger UI rendering the service's own OpenAPI document
(`/api/billing/openapi.json`). The assets come from a pinned PyPI package (swagger-ui-bundle-v2, in
requirements-dev.txt), never from a CDN. Local stack only: not a route of template.yaml."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from .gateway import HttpResponse, refusal

DOCS_PATH = "/api/billing/docs"
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png")
PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Marketplace Billing API</title>
    <link rel="stylesheet" type="text/css" href="{base}/swagger-ui.css" />
    <link rel="icon" type="image/png" href="{base}/favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{base}/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="{base}/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script>
      window.ui = SwaggerUIBundle({{
        url: "/api/billing/openapi.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        layout: "StandaloneLayout",
        validatorUrl: null,
        persistAuthorization: true,
      }});
    </script>
  </body>
</html>
"""


def is_docs_path(path: str) -> bool:
    return path == DOCS_PATH or path.startswith(DOCS_PATH + "/")


def assets_folder() -> Path:
    import swagger_ui_bundle

    return Path(str(swagger_ui_bundle.swagger_ui_path))


def docs_response(method: str, path: str) -> HttpResponse:
    name = path[len(DOCS_PATH) :].strip("/")
    if method not in ("GET", "HEAD"):
        return refusal(405, "method_not_allowed", f"{method} {DOCS_PATH} is not a thing; GET it.")
    if not name or name == "index.html":
        return HttpResponse(200, {"Content-Type": "text/html; charset=utf-8"}, PAGE.format(base=DOCS_PATH).encode())
    if name not in ASSETS:
        return refusal(404, "not_found", "No such file of the API reference.")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return HttpResponse(
        200, {"Content-Type": kind, "Cache-Control": "max-age=3600"}, (assets_folder() / name).read_bytes()
    )
