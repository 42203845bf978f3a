-- Prefix lookups of usernames (`GET /api/users?q=`): `lower(username) LIKE 'abc%'`
-- needs the pattern operator class to use an index under a non-C collation.
CREATE INDEX users_username_prefix_idx ON users (lower(username) text_pattern_ops);
