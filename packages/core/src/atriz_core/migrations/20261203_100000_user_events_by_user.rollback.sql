-- Undoes 20261203_100000_user_events_by_user.
DROP INDEX user_events_user_id_created_at_idx;
