"""The synthetic market: a seeded order book, trades, funding and accounts (see model.py)."""
