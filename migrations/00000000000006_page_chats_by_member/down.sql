CREATE INDEX chat_members_user_id_idx ON chat_members (user_id);
DROP INDEX chat_members_user_chat_idx;
