"""One controller per resource; each stays thin: parse -> command -> service.execute -> response."""
