"""Safe retries: an Idempotency-Key replays the first response instead of writing twice."""
