DROP INDEX chat_members_joined_at_idx;
DROP INDEX messages_idempotency_key;
DELETE FROM messages WHERE deleted_at IS NOT NULL;
CREATE UNIQUE INDEX messages_idempotency_key
    ON messages (chat_id, sender_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
ALTER TABLE messages DROP COLUMN pts;
ALTER TABLE messages DROP COLUMN deleted_at;
DROP TABLE chat_changes;
ALTER TABLE chats DROP COLUMN last_pts;
