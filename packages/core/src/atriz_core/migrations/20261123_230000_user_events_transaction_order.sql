-- Apps consume user_events with a cursor. Ids are handed out when a row is inserted, not when its
-- transaction commits, so an event with a smaller id can become visible after one with a larger
-- id, and a cursor on the id alone would skip it for good. Each event records its transaction;
-- readers take only events of transactions older than every transaction still running (those
-- can gain no earlier neighbour) and keep (txid, id) as their cursor.
ALTER TABLE user_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX user_events_txid_id_idx ON user_events (txid, id);
