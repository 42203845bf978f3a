CREATE TABLE messages (
    id            uuid        PRIMARY KEY,
    chat_id       uuid        NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    sender_id     uuid        NOT NULL REFERENCES users (id),
    content       text        NOT NULL,
    seq           bigint      NOT NULL CHECK (seq > 0),
    client_msg_id text,
    created_at    timestamptz NOT NULL,
    edited_at     timestamptz,
    pinned_at     timestamptz,
    -- Also the index behind history pages (seq < x DESC) and recovery (seq > x ASC).
    CONSTRAINT messages_chat_id_seq_key UNIQUE (chat_id, seq)
);

-- A client retrying a send with the same key gets the stored message back.
CREATE UNIQUE INDEX messages_idempotency_key
    ON messages (chat_id, sender_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

CREATE INDEX messages_pinned_idx
    ON messages (chat_id, pinned_at DESC)
    WHERE pinned_at IS NOT NULL;
