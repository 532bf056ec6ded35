-- Three sales of today (UTC) by the seeded cashier (5eed0000-...-02) and manager (...-03),
-- one of them with two lines of one product. Each new sale writes its lines, its `sale`
-- movements and the stock they take, together; a sale that exists already writes nothing.
WITH new_sales AS (
    INSERT INTO sales (id, cashier_id, currency, total_minor, business_day) VALUES
        ('5eed0200-0000-4000-8000-000000000001', '5eed0000-0000-4000-8000-000000000002', 'EUR',
         4079, (now() AT TIME ZONE 'UTC')::date),
        ('5eed0200-0000-4000-8000-000000000002', '5eed0000-0000-4000-8000-000000000003', 'EUR',
         3150, (now() AT TIME ZONE 'UTC')::date),
        ('5eed0200-0000-4000-8000-000000000003', '5eed0000-0000-4000-8000-000000000002', 'EUR',
         4680, (now() AT TIME ZONE 'UTC')::date)
    ON CONFLICT DO NOTHING
    RETURNING id, cashier_id
), seed_lines (sale_id, line_no, product_id, quantity) AS (VALUES
    ('5eed0200-0000-4000-8000-000000000001'::uuid, 1, '5eed0100-0000-4000-8000-000000000001'::uuid, 2),
    ('5eed0200-0000-4000-8000-000000000001'::uuid, 2, '5eed0100-0000-4000-8000-000000000004'::uuid, 1),
    ('5eed0200-0000-4000-8000-000000000002'::uuid, 1, '5eed0100-0000-4000-8000-000000000003'::uuid, 2),
    ('5eed0200-0000-4000-8000-000000000002'::uuid, 2, '5eed0100-0000-4000-8000-000000000002'::uuid, 3),
    ('5eed0200-0000-4000-8000-000000000003'::uuid, 1, '5eed0100-0000-4000-8000-000000000001'::uuid, 1),
    ('5eed0200-0000-4000-8000-000000000003'::uuid, 2, '5eed0100-0000-4000-8000-000000000003'::uuid, 1),
    ('5eed0200-0000-4000-8000-000000000003'::uuid, 3, '5eed0100-0000-4000-8000-000000000001'::uuid, 1)
), lines AS (
    INSERT INTO sale_lines (sale_id, line_no, product_id, quantity, unit_price_minor,
                            line_total_minor)
    SELECT l.sale_id, l.line_no, l.product_id, l.quantity, p.price_minor, l.quantity * p.price_minor
    FROM seed_lines l
    JOIN new_sales s ON s.id = l.sale_id
    JOIN products p ON p.id = l.product_id
    RETURNING sale_id, product_id, quantity
), taken AS (
    SELECT l.sale_id, s.cashier_id, l.product_id, sum(l.quantity)::integer AS quantity
    FROM lines l JOIN new_sales s ON s.id = l.sale_id
    GROUP BY l.sale_id, s.cashier_id, l.product_id
), moved AS (
    INSERT INTO stock_movements (product_id, quantity, reason, sale_id, user_id)
    SELECT product_id, -quantity, 'sale', sale_id, cashier_id FROM taken
)
UPDATE inventory i SET on_hand = i.on_hand - t.quantity, updated_at = now()
FROM (SELECT product_id, sum(quantity) AS quantity FROM taken GROUP BY product_id) t
WHERE i.product_id = t.product_id;
