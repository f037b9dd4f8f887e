"""Users, passwords, JWTs, API tokens, principals and scopes."""
