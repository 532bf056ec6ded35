-- Development vehicles of the seeded users (ids fixed in core's seeds/20_users.sql): two of
-- Ana's (5eed...05) and one of the dispatcher's (5eed...01), each with a day of plausible
-- driving around Mexico City yesterday (UTC 14:00 to 24:00, a fix every 30 s) and its latest
-- position. Idempotent: a vehicle that exists is left as it is, and a vehicle with positions
-- gets no more.
INSERT INTO vehicles (id, owner_id, name, plate, vin) VALUES
    ('5eedca40-0000-4000-8000-000000000001', '5eed0000-0000-4000-8000-000000000005',
     'Ana''s van', 'ANA-101', NULL),
    ('5eedca40-0000-4000-8000-000000000002', '5eed0000-0000-4000-8000-000000000005',
     'Ana''s car', 'ANA-202', '11111111111111111'),
    ('5eedca40-0000-4000-8000-000000000003', '5eed0000-0000-4000-8000-000000000001',
     'Dispatch truck', 'DSP-001', '1M8GDM9AXKP042788')
ON CONFLICT (id) DO NOTHING;

SELECT ensure_positions_partition((now() AT TIME ZONE 'UTC')::date - 1);

-- Each vehicle drives loops (an ellipse around its own centre, one lap per `lap` fixes).
INSERT INTO positions (vehicle_id, recorded_at, latitude, longitude, speed_kmh, heading, altitude_m,
                       accuracy_m, quality)
SELECT route.vehicle_id::uuid,
       ((now() AT TIME ZONE 'UTC')::date - 1 + time '14:00') AT TIME ZONE 'UTC'
           + step * interval '30 seconds',
       route.lat + route.r_lat * sin(2 * pi() * step / route.lap),
       route.lon + route.r_lon * cos(2 * pi() * step / route.lap),
       -- The lap's length over its time, a little uneven, as traffic is.
       2 * pi() * sqrt((route.r_lat ^ 2 + (route.r_lon * cos(radians(route.lat))) ^ 2) / 2)
           * 111195 / (route.lap * 30) * 3.6 * (0.85 + 0.3 * (step % 7) / 6.0),
       mod(floor(degrees(atan2(
           -route.r_lon * cos(radians(route.lat)) * sin(2 * pi() * step / route.lap),
           route.r_lat * cos(2 * pi() * step / route.lap)
       )) + 360)::integer, 360),
       2240 + 10 * sin(step / 50.0),
       5 + step % 4,
       'ok'
FROM (VALUES
    ('5eedca40-0000-4000-8000-000000000001', 19.4326, -99.1332, 0.020, 0.025, 120),
    ('5eedca40-0000-4000-8000-000000000002', 19.3600, -99.1700, 0.015, 0.030, 90),
    ('5eedca40-0000-4000-8000-000000000003', 19.4900, -99.0800, 0.040, 0.040, 160)
) AS route (vehicle_id, lat, lon, r_lat, r_lon, lap)
CROSS JOIN generate_series(0, 1199) AS step
WHERE NOT EXISTS (SELECT FROM positions p WHERE p.vehicle_id = route.vehicle_id::uuid)
ON CONFLICT (vehicle_id, recorded_at) DO NOTHING;

INSERT INTO latest_positions (vehicle_id, recorded_at, latitude, longitude, speed_kmh, heading,
                              altitude_m, accuracy_m, received_at)
SELECT DISTINCT ON (vehicle_id) vehicle_id, recorded_at, latitude, longitude, speed_kmh,
       heading, altitude_m, accuracy_m, received_at
FROM positions
WHERE vehicle_id IN ('5eedca40-0000-4000-8000-000000000001',
                     '5eedca40-0000-4000-8000-000000000002',
                     '5eedca40-0000-4000-8000-000000000003')
ORDER BY vehicle_id, recorded_at DESC
ON CONFLICT (vehicle_id) DO NOTHING;
