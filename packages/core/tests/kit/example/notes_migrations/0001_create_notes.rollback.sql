DROP TABLE user_event_cursor;
DROP TABLE notes;
