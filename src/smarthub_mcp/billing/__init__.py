"""Money: the ledger (the only writer of balances), pricing, and the meter every tool call goes through."""
