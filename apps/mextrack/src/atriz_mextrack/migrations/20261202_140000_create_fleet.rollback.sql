DROP TABLE user_event_cursor;
DROP TABLE latest_positions;
DROP FUNCTION ensure_positions_partition(date);
DROP TABLE positions;
DROP TABLE device_tokens;
DROP TABLE vehicles;
DROP FUNCTION great_circle_m(double precision, double precision, double precision, double precision);
