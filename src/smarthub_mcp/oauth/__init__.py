"""The OAuth 2.1 authorization server: clients (registered, pre-registered, metadata documents),
authorization requests, codes, grants, rotating refresh tokens, and access tokens bound to a resource."""
