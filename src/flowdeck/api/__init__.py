"""The HTTP edge: FastAPI app, auth dependencies, problem+json, routes."""
