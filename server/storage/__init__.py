"""SQLite storage: the schema and its migrations, the peewee models, backups."""
