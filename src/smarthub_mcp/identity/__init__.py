"""Who is calling, and may they? Accounts, passwords, tokens, API keys, roles, email."""
