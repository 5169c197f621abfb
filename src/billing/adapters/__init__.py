"""Adapters: implementations of the application's ports (memory, SQLAlchemy, email, auth)."""
