-- PShop's schema: the catalogue, stock and its append-only ledger, sales, refunds, idempotency
-- keys, the users removed from atriz_shared, and the cursor of the user-event consumer.
-- requires: core 20261123_210000_create_identity

CREATE TABLE products (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sku text NOT NULL CONSTRAINT products_sku_key UNIQUE
        CONSTRAINT products_sku_check CHECK (sku ~ '^[!-~]{1,64}$'),
    name text NOT NULL CONSTRAINT products_name_check CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT ''
        CONSTRAINT products_description_check CHECK (length(description) <= 2000),
    -- Integer minor units (cents): money is never a float.
    price_minor bigint NOT NULL CONSTRAINT products_price_minor_check CHECK (price_minor >= 0),
    -- ISO 4217; the application checks the code against the standard's list.
    currency text NOT NULL CONSTRAINT products_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_name_id_idx ON products (name, id);

CREATE TABLE product_barcodes (
    barcode text PRIMARY KEY CONSTRAINT product_barcodes_barcode_check
        CHECK (barcode ~ '^[!-~]{1,64}$'),
    product_id uuid NOT NULL REFERENCES products (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_barcodes_product_id_idx ON product_barcodes (product_id);

-- On-hand is a plain column changed by conditional UPDATEs (one row lock per product), never
-- a running balance recomputed from the ledger: every change also appends a movement in the
-- same transaction, so on_hand = sum(stock_movements.quantity) per product at every commit.
CREATE TABLE inventory (
    product_id uuid PRIMARY KEY REFERENCES products (id),
    on_hand integer NOT NULL DEFAULT 0 CONSTRAINT inventory_on_hand_check CHECK (on_hand >= 0),
    reorder_level integer NOT NULL DEFAULT 0
        CONSTRAINT inventory_reorder_level_check CHECK (reorder_level >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sales (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Users of atriz_shared (no foreign key across databases): checked on write.
    cashier_id uuid NOT NULL,
    customer_id uuid,
    status text NOT NULL DEFAULT 'completed'
        CONSTRAINT sales_status_check CHECK (status IN ('completed', 'voided')),
    currency text NOT NULL CONSTRAINT sales_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor bigint NOT NULL CONSTRAINT sales_total_minor_check CHECK (total_minor >= 0),
    -- The day of the sale in PSHOP_TIMEZONE, fixed when it is made.
    business_day date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    voided_at timestamptz,
    voided_by uuid,
    void_reason text CONSTRAINT sales_void_reason_check CHECK (length(void_reason) <= 500),
    CONSTRAINT sales_voided_check CHECK ((status = 'voided') = (voided_at IS NOT NULL))
);
CREATE INDEX sales_created_at_id_idx ON sales (created_at, id);
CREATE INDEX sales_cashier_created_at_idx ON sales (cashier_id, created_at, id);
CREATE INDEX sales_business_day_idx ON sales (business_day);
CREATE INDEX sales_customer_id_idx ON sales (customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE sale_lines (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sale_id uuid NOT NULL REFERENCES sales (id),
    line_no integer NOT NULL,
    product_id uuid NOT NULL REFERENCES products (id),
    quantity integer NOT NULL CONSTRAINT sale_lines_quantity_check CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL
        CONSTRAINT sale_lines_unit_price_minor_check CHECK (unit_price_minor >= 0),
    line_total_minor bigint NOT NULL,
    CONSTRAINT sale_lines_sale_line_no_key UNIQUE (sale_id, line_no)
);
CREATE INDEX sale_lines_product_id_idx ON sale_lines (product_id);

CREATE TABLE refunds (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sale_id uuid NOT NULL REFERENCES sales (id),
    user_id uuid NOT NULL,
    reason text NOT NULL DEFAULT '' CONSTRAINT refunds_reason_check CHECK (length(reason) <= 500),
    total_minor bigint NOT NULL CONSTRAINT refunds_total_minor_check CHECK (total_minor >= 0),
    business_day date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_sale_id_idx ON refunds (sale_id);
CREATE INDEX refunds_business_day_idx ON refunds (business_day);

CREATE TABLE refund_lines (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    refund_id uuid NOT NULL REFERENCES refunds (id),
    sale_line_id uuid NOT NULL REFERENCES sale_lines (id),
    quantity integer NOT NULL CONSTRAINT refund_lines_quantity_check CHECK (quantity > 0),
    amount_minor bigint NOT NULL CONSTRAINT refund_lines_amount_minor_check CHECK (amount_minor >= 0),
    restock boolean NOT NULL
);
CREATE INDEX refund_lines_refund_id_idx ON refund_lines (refund_id);
CREATE INDEX refund_lines_sale_line_id_idx ON refund_lines (sale_line_id);

-- The stock ledger: appended to, never changed (see the trigger and the grants below).
CREATE TABLE stock_movements (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id uuid NOT NULL REFERENCES products (id),
    quantity integer NOT NULL,
    reason text NOT NULL CONSTRAINT stock_movements_reason_check
        CHECK (reason IN ('sale', 'restock', 'adjustment', 'count', 'void', 'refund')),
    sale_id uuid REFERENCES sales (id),
    refund_id uuid REFERENCES refunds (id),
    user_id uuid NOT NULL,
    note text NOT NULL DEFAULT '' CONSTRAINT stock_movements_note_check CHECK (length(note) <= 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Only a count may record "no change" (it still records that the count happened).
    CONSTRAINT stock_movements_quantity_check CHECK (quantity <> 0 OR reason = 'count')
);
CREATE INDEX stock_movements_product_id_idx ON stock_movements (product_id, id);
CREATE INDEX stock_movements_sale_id_idx ON stock_movements (sale_id) WHERE sale_id IS NOT NULL;

-- REVOKE keeps the app's login role (a member of pshop_writer) from changing the ledger; the
-- trigger also stops the table's owner (who holds every privilege, and is what development and
-- the tests connect as). TRUNCATE stays possible for the owner: `db-clean` empties every table
-- at once, which keeps on_hand = sum(movements) true (both sides become empty).
CREATE FUNCTION stock_movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_movements is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'record a correcting movement (adjustment) instead';
END
$$;
CREATE TRIGGER stock_movements_append_only
    BEFORE UPDATE OR DELETE ON stock_movements
    FOR EACH STATEMENT EXECUTE FUNCTION stock_movements_append_only();

-- Idempotency-Key: one row per (user, route, key), written in the transaction of the effect it
-- guards, so that the key and the effect commit or roll back together.
CREATE TABLE idempotency_keys (
    user_id uuid NOT NULL,
    route text NOT NULL,
    key text NOT NULL CONSTRAINT idempotency_keys_key_check CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the request body in canonical form.
    fingerprint bytea NOT NULL,
    status_code integer,
    response bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, route, key)
);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- Users deleted in atriz_shared (the user-event policy): their sales keep their ids, and read
-- back with the cashier shown as removed.
CREATE TABLE removed_users (
    user_id uuid PRIMARY KEY,
    removed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_event_cursor (
    consumer text PRIMARY KEY,
    txid bigint NOT NULL DEFAULT 0,
    event_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The group role of the app's login in production (`CREATE ROLE pshop_app LOGIN ... IN ROLE
-- pshop_writer`): it reads and writes everything but the ledger, which it may only append to.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pshop_writer') THEN
        CREATE ROLE pshop_writer NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO pshop_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON products, product_barcodes, inventory, sales, sale_lines,
    refunds, refund_lines, idempotency_keys, removed_users, user_event_cursor TO pshop_writer;
GRANT SELECT, INSERT ON stock_movements TO pshop_writer;
REVOKE UPDATE, DELETE, TRUNCATE ON stock_movements FROM PUBLIC, pshop_writer;
