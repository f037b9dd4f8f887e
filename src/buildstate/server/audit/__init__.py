"""The audit log: one append-only record per mutating request and per login attempt."""
