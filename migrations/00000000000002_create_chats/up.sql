CREATE TABLE chats (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    created_by uuid        NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL,
    -- The last message seq handed out in this chat. Only ever grows: the row lock taken
    -- by incrementing it serializes concurrent senders, a rollback undoes it (gapless),
    -- and a deleted message's seq is never handed out again.
    last_seq   bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

CREATE TABLE chat_members (
    chat_id    uuid        NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at  timestamptz NOT NULL DEFAULT now(),
    -- Members added in one statement share joined_at; this keeps "the order they
    -- joined" exact.
    join_order bigint      GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (chat_id, user_id)
);

CREATE INDEX chat_members_user_id_idx ON chat_members (user_id);
