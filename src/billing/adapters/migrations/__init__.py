"""Alembic migrations, shipped inside the package; `billing db upgrade` and the tests run them."""
