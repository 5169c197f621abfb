"""One module per use case. A handler runs inside a unit of work its caller opens and commits
(`run_in_unit_of_work`), so that the HTTP layer can add its idempotency key to the same transaction."""
