"""Mailers: SMTP for real delivery, logging for a deployment without a mail server."""
