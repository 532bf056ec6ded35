-- Included first by reader-logins.sql and service-logins.sql, whose statements hold passwords
-- as literals: for this session, keep its statements out of the server's log (sampled and debug
-- logging included), of pg_stat_statements (which stores utility statements verbatim for
-- whoever may read its view) and of pg_stat_activity; and wait for a lock 5 s at most.
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
SET log_transaction_sample_rate = 0;
SET log_min_duration_sample = -1;
SET debug_print_parse = off;
SET debug_print_rewritten = off;
SET debug_print_plan = off;
SET track_activities = off;
SET pg_stat_statements.track_utility = off;
SET lock_timeout = '5s';
