"""MkDocs hooks (mkdocs.yml `hooks:`): the site's OpenAPI document comes from the app itself.

At every build, `http/openapi.json` is generated from `create_app` on the in-memory container, the same document
`billing serve` answers at `/schema/openapi.json`; docs/http/index.md renders it with Swagger UI. Nothing is
written into docs/: the file exists only in the built site, so it can never be stale.
"""

from __future__ import annotations

import json
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

OPENAPI_URI = "http/openapi.json"
# create_app checks that tokens can be verified; no token is ever signed with this one.
DOCS_ONLY_SECRET = "docs-only-secret-that-signs-nothing-0000"


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, as `GET /schema/openapi.json` answers it."""
    from billing.config import JwtSettings, Settings
    from billing.container import in_memory_container
    from billing.entrypoints.http.app import create_app

    container = in_memory_container(Settings(jwt=JwtSettings(secret=DOCS_ONLY_SECRET)))
    app = create_app(container, deliver_email=False, expire_holds=False)
    document: dict[str, Any] = app.openapi_schema.to_schema()
    return document


def on_files(files: Files, config: MkDocsConfig) -> Files:
    content = json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"
    files.append(File.generated(config, OPENAPI_URI, content=content))
    return files
