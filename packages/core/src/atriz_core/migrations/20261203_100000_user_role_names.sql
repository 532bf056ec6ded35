-- The roles a token minted now must carry, read with a snapshot of their own. A VOLATILE
-- function takes a fresh snapshot for each query it runs, where a statement's subqueries share
-- the statement's, taken before it waited on any row lock. A login's single statement calls it
-- once its UPDATE holds the user's row: a role change that held that row (and stamped its
-- `roles_changed` event) is then read as committed, so no token leaves with a role taken away
-- before it was issued.
CREATE FUNCTION user_role_names(target_user uuid) RETURNS text[]
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
    RETURN ARRAY(
        SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
        WHERE ur.user_id = target_user
        ORDER BY r.name
    );
END
$$;
