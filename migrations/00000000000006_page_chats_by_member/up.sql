-- A user's chats page by chat id (`GET /api/chats?after=&limit=`):
-- `WHERE user_id = $1 AND chat_id > $2 ORDER BY chat_id LIMIT $3` walks this index
-- from the cursor. It also serves every lookup the (user_id) index did.
CREATE INDEX chat_members_user_chat_idx ON chat_members (user_id, chat_id);
DROP INDEX chat_members_user_id_idx;
