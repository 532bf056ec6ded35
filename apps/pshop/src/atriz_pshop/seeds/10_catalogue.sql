-- A small coffee-shop catalogue with opening stock, received by the seeded manager
-- (5eed0000-...-03). Idempotent: products, barcodes and inventory rows that exist are left as
-- they are, and an opening `restock` movement is written only with a new inventory row, so
-- on-hand equals the ledger's sum however often this runs.
INSERT INTO products (id, sku, name, description, price_minor, currency) VALUES
    ('5eed0100-0000-4000-8000-000000000001', 'COF-001', 'Coffee beans 1 kg', 'Medium roast', 1890, 'EUR'),
    ('5eed0100-0000-4000-8000-000000000002', 'TEA-001', 'Green tea 100 g', 'Sencha', 450, 'EUR'),
    ('5eed0100-0000-4000-8000-000000000003', 'MUG-001', 'Ceramic mug', '350 ml', 900, 'EUR'),
    ('5eed0100-0000-4000-8000-000000000004', 'FLT-001', 'Paper filters (100)', 'Size 4', 299, 'EUR'),
    ('5eed0100-0000-4000-8000-000000000005', 'GRN-001', 'Hand grinder', 'Ceramic burrs', 3450, 'EUR'),
    ('5eed0100-0000-4000-8000-000000000006', 'KTL-001', 'Gooseneck kettle', '1 l', 4990, 'EUR')
ON CONFLICT DO NOTHING;

INSERT INTO product_barcodes (barcode, product_id) VALUES
    ('8400000000017', '5eed0100-0000-4000-8000-000000000001'),
    ('8400000000024', '5eed0100-0000-4000-8000-000000000002'),
    ('8400000000031', '5eed0100-0000-4000-8000-000000000003'),
    ('8400000000048', '5eed0100-0000-4000-8000-000000000004'),
    ('8400000000055', '5eed0100-0000-4000-8000-000000000005'),
    ('8400000000062', '5eed0100-0000-4000-8000-000000000006')
ON CONFLICT DO NOTHING;

WITH opened AS (
    INSERT INTO inventory (product_id, on_hand, reorder_level) VALUES
        ('5eed0100-0000-4000-8000-000000000001', 40, 10),
        ('5eed0100-0000-4000-8000-000000000002', 60, 15),
        ('5eed0100-0000-4000-8000-000000000003', 25, 5),
        ('5eed0100-0000-4000-8000-000000000004', 80, 20),
        ('5eed0100-0000-4000-8000-000000000005', 8, 3),
        ('5eed0100-0000-4000-8000-000000000006', 2, 3)
    ON CONFLICT DO NOTHING
    RETURNING product_id, on_hand
)
INSERT INTO stock_movements (product_id, quantity, reason, user_id, note)
SELECT product_id, on_hand, 'restock', '5eed0000-0000-4000-8000-000000000003', 'opening stock'
FROM opened;
