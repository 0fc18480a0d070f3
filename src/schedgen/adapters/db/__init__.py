"""Job persistence: engines, tables, migrations and queries on SQLite (embedded) and PostgreSQL."""
