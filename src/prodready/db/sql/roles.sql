-- Roles and the roles each is a member of (membership is how privileges reach a login).
SELECT /* prodready */
    r.rolname AS name,
    r.rolsuper AS superuser,
    r.rolbypassrls AS bypassrls,
    r.rolcanlogin AS login,
    r.rolinherit AS inherit,
    r.rolcreaterole AS createrole,
    r.rolcreatedb AS createdb,
    r.rolreplication AS replication,
    ARRAY(
        SELECT g.rolname::text
        FROM pg_auth_members m
        JOIN pg_roles g ON g.oid = m.roleid
        WHERE m.member = r.oid
        ORDER BY g.rolname
    ) AS member_of
FROM pg_roles r
ORDER BY r.rolname
