DROP TABLE user_event_cursor;
DROP TABLE slug_history;
DROP TABLE articles;
DROP TABLE user_profiles;
