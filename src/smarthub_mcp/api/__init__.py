"""The HTTP API under /api/v1: Starlette routes, one module per area."""
