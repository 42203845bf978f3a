-- The per-chat change sequence (pts): every create, edit, delete, pin and unpin of a
-- message takes the chat's next pts in the change's own statement (the chat row's
-- lock orders them: gapless and in commit order), and is logged, so an instance can
-- fill a gap in what it delivered and a client can ask what changed since a pts.
ALTER TABLE chats ADD COLUMN last_pts bigint NOT NULL DEFAULT 0 CHECK (last_pts >= 0);

CREATE TABLE chat_changes (
    chat_id    uuid     NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    pts        bigint   NOT NULL CHECK (pts > 0),
    -- 1 created, 2 edited, 3 deleted, 4 pinned, 5 unpinned
    kind       smallint NOT NULL CHECK (kind BETWEEN 1 AND 5),
    message_id uuid     NOT NULL,
    PRIMARY KEY (chat_id, pts)
);

-- A deleted message stays as a tombstone (content emptied) so the log can name it;
-- every read but the log's skips it. `pts` is the message's version: the pts of its
-- latest change, so caches can tell a newer copy from an older one.
ALTER TABLE messages ADD COLUMN deleted_at timestamptz;
ALTER TABLE messages ADD COLUMN pts bigint NOT NULL DEFAULT 0;

-- Idempotency covers live messages only: a key may be sent again once its message
-- was deleted, as before.
DROP INDEX messages_idempotency_key;
CREATE UNIQUE INDEX messages_idempotency_key
    ON messages (chat_id, sender_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL AND deleted_at IS NULL;

-- Instances look for memberships that began recently (a missed `chat.joined`).
CREATE INDEX chat_members_joined_at_idx ON chat_members (joined_at);
