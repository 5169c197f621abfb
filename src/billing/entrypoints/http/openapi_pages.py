"""The OpenAPI pages: `/schema` (Redoc, to read) and `/schema/swagger` (Swagger UI, to try calls with a token).

Litestar's render plugins load their scripts and styles from CDNs by default, so the pages render nothing offline or
behind a firewall. Here every file they name is the package's own (openapi_ui/, copied unchanged from the projects'
npm packages with their licenses: see openapi_ui/SOURCE.md), served by the app under /schema/assets/.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS = Path(__file__).with_name("openapi_ui")
ASSETS_PATH = "/schema/assets"
ASSETS_MAX_AGE = 24 * 3600  # the files change only with the package


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Redoc first (Litestar serves the first plugin at /schema), then Swagger UI at /schema/swagger."""
    favicon = f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/swagger-ui/favicon-32x32.png'>"
    swagger = f"{ASSETS_PATH}/swagger-ui"
    return [
        RedocRenderPlugin(js_url=f"{ASSETS_PATH}/redoc/redoc.standalone.js", google_fonts=False, favicon=favicon),
        SwaggerRenderPlugin(
            js_url=f"{swagger}/swagger-ui-bundle.js",
            css_url=f"{swagger}/swagger-ui.css",
            standalone_preset_js_url=f"{swagger}/swagger-ui-standalone-preset.js",
            favicon=favicon,
        ),
    ]


def assets_router() -> Router:
    """The pages' files, outside the API's guard like the pages themselves, and cacheable (not `no-store`)."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS],
        name="openapi-assets",
        cache_control=CacheControlHeader(public=True, max_age=ASSETS_MAX_AGE),
        include_in_schema=False,
    )
