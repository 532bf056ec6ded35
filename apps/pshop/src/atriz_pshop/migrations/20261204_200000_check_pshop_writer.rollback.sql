-- Nothing to undo: the check changed nothing, and CREATE on the schema stays revoked from
-- PUBLIC (granting it back would let anyone plant objects there).
SELECT 1;
