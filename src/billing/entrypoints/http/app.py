"""Where `create_app` was first found: the app is composed in `entrypoints/web.py`, which mounts this package's API
beside the console. Kept so that `from billing.entrypoints.http.app import create_app` goes on working."""

from billing.entrypoints.web import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]
