-- Undoes 20261202_110000_harden_app_reader, except atriz_app_reader's
-- idle_in_transaction_session_timeout: the role is shared by every database on the server, and
-- like the role itself (which 20261123_210000's rollback keeps) its setting stays for the others.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END
$$;

DROP FUNCTION check_app_reader_role(text);
