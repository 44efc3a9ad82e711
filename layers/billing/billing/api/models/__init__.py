"""Request models of the HTTP API, one module per function (responses are the domain objects
themselves). Nothing is imported here: a function loads only its own models (cold start)."""
