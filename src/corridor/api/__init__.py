"""The HTTP edge: FastAPI app factory, routers, problem+json errors, authentication."""
