"""PShop: point of sale and inventory on the Atriz app kit (catalogue, stock, ledger, sales)."""
