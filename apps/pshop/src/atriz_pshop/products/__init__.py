"""The catalogue: products, their barcodes and prices."""
