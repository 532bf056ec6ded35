-- Deletes only the built-in roles that nobody holds: deleting a held one would silently take it
-- from its holders (user_roles cascades), which a schema rollback must not do. Held roles stay,
-- and inserting them again is a no-op, so the migration can be applied again either way.
DELETE FROM roles r
WHERE r.name IN (
        'admin', 'user', 'website.editor', 'mextrack.dispatcher', 'pshop.manager', 'pshop.cashier'
    )
    AND NOT EXISTS (SELECT FROM user_roles ur WHERE ur.role_id = r.id);
