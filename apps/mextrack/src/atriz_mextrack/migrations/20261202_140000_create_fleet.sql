-- Mextrack's tables: vehicles, their device tokens, their positions (range-partitioned by the
-- fix time, one partition per UTC day, created ahead by the service) and the latest position
-- of each, and the cursor of the user-event consumer.
-- requires: core 20261123_210000_create_identity

-- The great-circle distance in metres between two points given in degrees (haversine, on a
-- sphere of the Earth's mean radius, 6371.0088 km), NULL if any input is. Plain SQL, immutable
-- and not declared STRICT, so that the planner inlines it (a STRICT SQL function is inlined
-- only if its body is strict throughout; called instead, it cost 10 us a row). atan2 rather
-- than asin: rounding may push the haversine a hair past 1 for antipodal points.
CREATE FUNCTION great_circle_m(
    lat1 double precision, lon1 double precision, lat2 double precision, lon2 double precision
) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 2 * 6371008.8 * atan2(
    sqrt(sin(radians(lat2 - lat1) / 2) ^ 2
         + cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2),
    sqrt(abs(1 - (sin(radians(lat2 - lat1) / 2) ^ 2
                  + cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2)))
);

CREATE TABLE vehicles (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- A user in atriz_shared: checked on write (no foreign key across databases); NULL once
    -- that user was deleted (the vehicle and its history stay, an admin may reassign it).
    owner_id uuid,
    name text NOT NULL CONSTRAINT vehicles_name_check CHECK (length(name) BETWEEN 1 AND 100),
    plate text NOT NULL CONSTRAINT vehicles_plate_check CHECK (length(plate) BETWEEN 1 AND 20),
    vin text CONSTRAINT vehicles_vin_check CHECK (vin ~ '^[A-HJ-NPR-Z0-9]{17}$'),
    status text NOT NULL DEFAULT 'active'
        CONSTRAINT vehicles_status_check CHECK (status IN ('active', 'inactive')),
    -- Set while the owner is deactivated in atriz_shared (the user-event policy): the vehicle
    -- accepts no positions until the owner is reactivated.
    owner_suspended_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT vehicles_plate_key UNIQUE (plate),
    CONSTRAINT vehicles_owned_when_active CHECK (status = 'inactive' OR owner_id IS NOT NULL)
);
CREATE INDEX vehicles_owner_created_idx ON vehicles (owner_id, created_at, id);
CREATE INDEX vehicles_created_idx ON vehicles (created_at, id);

-- A tracker's credential: random, shown once, kept as its SHA-256. At most one live token per
-- vehicle; rotated and revoked ones stay, with the time they stopped working.
CREATE TABLE device_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vehicle_id uuid NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL CONSTRAINT device_tokens_token_hash_key UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE UNIQUE INDEX device_tokens_live_idx ON device_tokens (vehicle_id) WHERE revoked_at IS NULL;

-- No foreign key to vehicles: it would cost every row of a COPY-speed insert a lookup; a
-- batch locks its vehicle's row instead, and deleting a vehicle deletes its positions.
CREATE TABLE positions (
    vehicle_id uuid NOT NULL,
    recorded_at timestamptz NOT NULL,
    latitude double precision NOT NULL
        CONSTRAINT positions_latitude_check CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision NOT NULL
        CONSTRAINT positions_longitude_check CHECK (longitude BETWEEN -180 AND 180),
    speed_kmh real NOT NULL CONSTRAINT positions_speed_kmh_check CHECK (speed_kmh >= 0),
    heading real NOT NULL CONSTRAINT positions_heading_check CHECK (heading >= 0 AND heading < 360),
    altitude_m real,
    accuracy_m real CONSTRAINT positions_accuracy_m_check CHECK (accuracy_m >= 0),
    received_at timestamptz NOT NULL DEFAULT now(),
    quality text NOT NULL DEFAULT 'ok'
        CONSTRAINT positions_quality_check CHECK (quality IN ('ok', 'jump')),
    PRIMARY KEY (vehicle_id, recorded_at)
) PARTITION BY RANGE (recorded_at);

-- The partition of one UTC day, created unless it exists; returns its name when it created it.
-- The service calls it ahead of time and before a batch whose days lack one; there is no
-- DEFAULT partition, so that retention only ever drops whole days.
CREATE FUNCTION ensure_positions_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    partition text := format('positions_p%s', to_char(day, 'YYYYMMDD'));
BEGIN
    IF to_regclass(partition) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    -- Two creators of one day at once (two workers starting): the second waits for the first
    -- to commit, then fails to create it. Its catalog cache may not show the new table yet (an
    -- advisory lock does not refresh it), so the failure is caught rather than checked for.
    PERFORM pg_advisory_xact_lock(hashtext('mextrack.positions_partitions'));
    BEGIN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF positions FOR VALUES FROM (%L) TO (%L)',
            partition,
            to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00'
        );
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        RETURN NULL;
    END;
    RETURN partition;
END;
$$;

-- "Where is everyone" without scanning history: one row per vehicle, moved only by a newer fix.
CREATE TABLE latest_positions (
    vehicle_id uuid PRIMARY KEY REFERENCES vehicles (id) ON DELETE CASCADE,
    recorded_at timestamptz NOT NULL,
    latitude double precision NOT NULL,
    longitude double precision NOT NULL,
    speed_kmh real NOT NULL,
    heading real NOT NULL,
    altitude_m real,
    accuracy_m real,
    received_at timestamptz NOT NULL
);

-- Where this app is in atriz_shared.user_events (atriz_core.kit.events): one row per consumer,
-- written in the transaction that applies the events, so the two commit or roll back together.
-- `txid` is an xid8 of atriz_shared, kept as bigint (far below 2^63 in practice).
CREATE TABLE user_event_cursor (
    consumer text PRIMARY KEY,
    txid bigint NOT NULL DEFAULT 0,
    event_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
