DROP INDEX user_events_txid_id_idx;
ALTER TABLE user_events DROP COLUMN txid;
