"""Provider adapters and the router that picks among them (see base.py and router.py)."""
