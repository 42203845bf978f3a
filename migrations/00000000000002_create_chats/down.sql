DROP TABLE chat_members;
DROP TABLE chats;
