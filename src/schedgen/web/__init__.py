"""The HTTP entrypoint: FastAPI app factory, JSON API and (later) pages."""
