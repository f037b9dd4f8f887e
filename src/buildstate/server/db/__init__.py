"""Database access: engines, the request-scoped session, the ORM base and migrations."""
