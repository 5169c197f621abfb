"""PostgreSQL adapters: SQLAlchemy Core tables, repositories and the unit of work (psycopg 3)."""
