"""Stock: on-hand per product, and the append-only ledger of every change to it."""
