"""The OpenAPI pages render offline: every script, stylesheet and icon that /schema (Redoc) and /schema/swagger
(Swagger UI) name is served by the app itself, from the package (src/billing/entrypoints/http/openapi_ui/)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from api_support import TickingClock
from litestar.testing import AsyncTestClient

from billing.config import Settings
from billing.container import Container, in_memory_container

PAGES = ["/schema", "/schema/swagger"]
JAVASCRIPT = {"text/javascript", "application/javascript"}


@pytest.fixture
def container(settings: Settings, clock: TickingClock) -> Container:
    """The pages do not depend on the store: the in-memory one only."""
    return in_memory_container(settings, clock=clock)


class _Resources(HTMLParser):
    """The URLs a browser loads to render a page: `<script src>` and `<link href>` (stylesheets, icons)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        url = named.get("src") if tag == "script" else named.get("href") if tag == "link" else None
        if url:
            self.found.append((tag, url))


async def resources(client: AsyncTestClient[Any], page: str) -> list[tuple[str, str]]:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    parser = _Resources()
    parser.feed(response.text)
    return parser.found


@pytest.mark.parametrize("page", PAGES)
async def test_every_file_a_page_loads_is_served_by_the_app(client: AsyncTestClient[Any], page: str) -> None:
    found = await resources(client, page)

    assert [tag for tag, _ in found].count("script") >= 1
    for tag, url in found:
        parts = urlsplit(url)
        assert not parts.scheme, f"{page} loads {url} from elsewhere"
        assert not parts.netloc, f"{page} loads {url} from elsewhere"  # a protocol-relative //host/... too
        assert url.startswith("/schema/assets/"), url
        served = await client.get(url)
        assert served.status_code == 200, f"{page} names {url}: {served.status_code}"
        assert len(served.content) > 0
        if tag == "script":
            assert served.headers["content-type"].split(";")[0] in JAVASCRIPT  # nosniff: the type must be right


async def test_the_pages_are_redoc_and_swagger_ui_with_their_stylesheet(client: AsyncTestClient[Any]) -> None:
    redoc = [url for _, url in await resources(client, "/schema")]
    swagger = [url for _, url in await resources(client, "/schema/swagger")]

    assert "/schema/assets/redoc/redoc.standalone.js" in redoc
    assert {
        "/schema/assets/swagger-ui/swagger-ui-bundle.js",
        "/schema/assets/swagger-ui/swagger-ui-standalone-preset.js",
        "/schema/assets/swagger-ui/swagger-ui.css",
    } <= set(swagger)
    css = await client.get("/schema/assets/swagger-ui/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")


async def test_the_pages_files_may_be_cached_and_their_licenses_ship_beside_them(
    client: AsyncTestClient[Any],
) -> None:
    script = await client.get("/schema/assets/swagger-ui/swagger-ui-bundle.js")

    assert {part.strip() for part in script.headers["cache-control"].split(",")} == {"public", "max-age=86400"}
    for license_file in ["swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE"]:
        assert (await client.get(f"/schema/assets/{license_file}")).status_code == 200


async def test_a_path_outside_the_assets_is_not_served(client: AsyncTestClient[Any]) -> None:
    assert (await client.get("/schema/assets/../openapi_pages.py")).status_code == 404
    assert (await client.get("/schema/assets/%2e%2e/openapi_pages.py")).status_code == 404
