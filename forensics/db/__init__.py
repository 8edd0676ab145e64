"""The incident database: schema, views, the store and the spool. The only code that talks to DuckDB."""
