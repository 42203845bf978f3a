CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    username      text        NOT NULL,
    display_name  text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL
);

-- Usernames are unique without regard to ASCII case ("Alice" and "alice" are one
-- name); lookups use the same expression so they hit this index.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
