"""Use cases: commands, their handlers and the ports they need. No framework, no database."""
