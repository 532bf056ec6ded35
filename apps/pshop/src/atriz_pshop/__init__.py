"""Atriz pshop: point of sale, stock ledger and inventory."""
