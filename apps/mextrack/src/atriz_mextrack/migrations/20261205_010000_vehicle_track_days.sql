-- The UTC days on which each vehicle has positions: what lets a query of one vehicle's points
-- name the few days it needs. Every daily partition that a query's times do not narrow to is
-- one more lock it takes (two, with the partition's index): a batch's lookup of the points on
-- either side of it, unbounded, took 803 locks once the server held 400 days, and some 40 such
-- batches at once filled the server's lock table ("out of shared memory"), failing every
-- database on it. A trigger notes the days of every statement that adds positions (a batch's
-- COPY, a seed, an import by hand); retention forgets the days it drops; a vehicle's deletion
-- takes its days with it.
CREATE TABLE vehicle_track_days (
    vehicle_id uuid NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    day date NOT NULL,
    PRIMARY KEY (vehicle_id, day)
);

CREATE FUNCTION note_track_days() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO public.vehicle_track_days (vehicle_id, day)
    SELECT DISTINCT vehicle_id, (recorded_at AT TIME ZONE 'UTC')::date FROM added
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

-- Once per statement, over the rows it added: a row trigger would cost a COPY of 10,000
-- points 10,000 calls.
CREATE TRIGGER positions_note_track_days
AFTER INSERT ON positions REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION note_track_days();

INSERT INTO vehicle_track_days (vehicle_id, day)
SELECT DISTINCT p.vehicle_id, (p.recorded_at AT TIME ZONE 'UTC')::date
FROM positions p
WHERE EXISTS (SELECT FROM vehicles v WHERE v.id = p.vehicle_id);
