"""Entry points: the HTTP API, the web console and the `billing` command. They only call the application."""
