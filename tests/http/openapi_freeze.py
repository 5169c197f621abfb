"""The OpenAPI document as a fresh process serves it, frozen in openapi_document.json.

Run in its own process because the document depends on the process, not only on the code: Litestar names the
request-body schemas of the first app a process builds (`ChargeWalletChargeCreateRequestBody`) and qualifies those of
every later app with the handler's path and a counter. `billing serve`'s workers and the docs build the first app.

    .venv/bin/python tests/http/openapi_freeze.py --write   # after an intended change; review the diff
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from litestar.testing import TestClient

from billing.config import JwtSettings, Settings
from billing.container import in_memory_container
from billing.entrypoints.http.app import create_app

DOCUMENT = Path(__file__).with_name("openapi_document.json")
# create_app checks that tokens can be verified; no token is ever signed with this one.
SECRET = "openapi-freeze-secret-that-signs-nothing"


def served_document() -> str:
    """`GET /schema/openapi.json` of a fresh app, pretty-printed with sorted keys."""
    container = in_memory_container(Settings(jwt=JwtSettings(secret=SECRET)))
    app = create_app(container, deliver_email=False, expire_holds=False)
    with TestClient(app) as client:
        document = client.get("/schema/openapi.json").json()
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    served = served_document()
    if sys.argv[1:] == ["--write"]:
        DOCUMENT.write_text(served)
    else:
        sys.stdout.write(served)
