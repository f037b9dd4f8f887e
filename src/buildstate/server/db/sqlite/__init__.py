"""SQLite, the embedded default: one writer thread committing writes in groups, reads
alongside on the write-ahead log (see docs/architecture.md). The backend is
:class:`~buildstate.server.db.sqlite.backend.SqliteBackend`; this package's ``__init__``
imports nothing, so that :mod:`buildstate.server.db.sql` can load its SQL alone."""
