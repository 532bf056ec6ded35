-- Undoes 20261203_100000_user_role_names.
DROP FUNCTION user_role_names(uuid);
