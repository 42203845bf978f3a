//! The tables of `migrations/`, written by hand (this project does not run the diesel
//! CLI). Keep in step with the SQL: the migration tests load every column through
//! these definitions, so a drift fails there.

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    chats (id) {
        id -> Uuid,
        name -> Text,
        created_by -> Uuid,
        created_at -> Timestamptz,
        last_seq -> Int8,
        last_pts -> Int8,
    }
}

diesel::table! {
    chat_changes (chat_id, pts) {
        chat_id -> Uuid,
        pts -> Int8,
        kind -> Int2,
        message_id -> Uuid,
    }
}

diesel::table! {
    chat_members (chat_id, user_id) {
        chat_id -> Uuid,
        user_id -> Uuid,
        joined_at -> Timestamptz,
        join_order -> Int8,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        chat_id -> Uuid,
        sender_id -> Uuid,
        content -> Text,
        seq -> Int8,
        client_msg_id -> Nullable<Text>,
        created_at -> Timestamptz,
        edited_at -> Nullable<Timestamptz>,
        pinned_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
        pts -> Int8,
    }
}

diesel::joinable!(chat_members -> chats (chat_id));
diesel::joinable!(messages -> chats (chat_id));
diesel::joinable!(chat_changes -> chats (chat_id));

diesel::allow_tables_to_appear_in_same_query!(users, chats, chat_members, messages, chat_changes);
