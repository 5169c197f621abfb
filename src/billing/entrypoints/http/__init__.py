"""The HTTP API (contract §3): `create_app(container)` in app.py."""
