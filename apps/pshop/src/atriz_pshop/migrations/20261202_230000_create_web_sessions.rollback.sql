REVOKE ALL ON web_sign_in_attempts, web_sessions FROM pshop_writer;
DROP TABLE web_sessions;
DROP TABLE web_sign_in_attempts;
