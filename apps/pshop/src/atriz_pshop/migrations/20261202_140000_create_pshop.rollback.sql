REVOKE ALL ON products, product_barcodes, inventory, sales, sale_lines, refunds, refund_lines,
    idempotency_keys, removed_users, user_event_cursor, stock_movements FROM pshop_writer;
REVOKE USAGE ON SCHEMA public FROM pshop_writer;
DROP TABLE user_event_cursor;
DROP TABLE removed_users;
DROP TABLE idempotency_keys;
DROP TABLE stock_movements;
DROP FUNCTION stock_movements_append_only();
DROP TABLE refund_lines;
DROP TABLE refunds;
DROP TABLE sale_lines;
DROP TABLE sales;
DROP TABLE inventory;
DROP TABLE product_barcodes;
DROP TABLE products;
