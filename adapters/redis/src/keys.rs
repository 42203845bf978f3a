//! Every key and channel name, in one place, so the schema in the crate docs and the
//! code cannot drift apart.

use webchat_domain::{ChatId, InstanceId, MessageId, SessionId, Topic, UserId};

/// Builds prefixed key and channel names.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}{}", self.prefix, rest)
    }

    /// A SCAN MATCH pattern for keys starting with `prefix + rest`. The prefix is
    /// escaped so a `*` or `[` in it cannot widen the match to other deployments' keys.
    pub(crate) fn pattern(&self, rest: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + rest.len() + 4);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push_str(rest);
        out
    }

    pub(crate) fn presence(&self, user: UserId) -> String {
        self.presence_of(&user.to_string())
    }
    /// The presence key of a user id read back from `users:online`.
    pub(crate) fn presence_of(&self, user: &str) -> String {
        self.key(format_args!("user:presence:{user}"))
    }
    pub(crate) fn online(&self) -> String {
        self.key(format_args!("users:online"))
    }
    /// The ids of `users:online` as a zset (scores 0), for paging by id.
    pub(crate) fn online_by_id(&self) -> String {
        self.key(format_args!("users:online:by_id"))
    }
    pub(crate) fn sockets(&self, user: UserId) -> String {
        self.key(format_args!("user:sockets:{user}"))
    }
    pub(crate) fn instance(&self, instance: &InstanceId) -> String {
        self.key(format_args!("instance:{instance}"))
    }

    pub(crate) fn session(&self, id: SessionId) -> String {
        self.session_of(&id.to_string())
    }
    /// The session key of an id read back from a user's index.
    pub(crate) fn session_of(&self, id: &str) -> String {
        self.key(format_args!("session:{id}"))
    }
    pub(crate) fn user_sessions(&self, user: UserId) -> String {
        self.key(format_args!("user:sessions:{user}"))
    }
    pub(crate) fn blacklist(&self, fingerprint: &str) -> String {
        self.key(format_args!("token:blacklist:{fingerprint}"))
    }

    pub(crate) fn throttle(&self, policy: &str, subject: &str, route: &str) -> String {
        self.key(format_args!("throttle:{policy}:{subject}:{route}"))
    }

    // The cache's keys put the entity id in braces: a hash tag, so every key of one
    // chat shares one Redis Cluster slot (its scripts are single-slot) and a message
    // key sits in its own slot (only single-key commands and per-key scripts touch it).

    pub(crate) fn message(&self, id: MessageId) -> String {
        self.message_of(&id.to_string())
    }
    /// The message key of an id read back from an index.
    pub(crate) fn message_of(&self, id: &str) -> String {
        self.key(format_args!("message:{{{id}}}"))
    }
    pub(crate) fn chat_messages(&self, chat: ChatId) -> String {
        self.key(format_args!("chat:messages:{{{chat}}}"))
    }
    pub(crate) fn chat_recent(&self, chat: ChatId) -> String {
        self.key(format_args!("chat:recent:{{{chat}}}"))
    }
    pub(crate) fn chat_pinned(&self, chat: ChatId) -> String {
        self.key(format_args!("chat:pinned:{{{chat}}}"))
    }
    pub(crate) fn chat_changed(&self, chat: ChatId) -> String {
        self.key(format_args!("chat:changed:{{{chat}}}"))
    }

    /// The pub/sub channel of a topic.
    pub(crate) fn channel(&self, topic: &Topic) -> String {
        match topic {
            Topic::Chat(chat) => self.key(format_args!("chat:{chat}")),
            Topic::User(user) => self.key(format_args!("user:{user}")),
            Topic::Presence => self.key(format_args!("presence")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract_table() {
        let k = Keys::new("webchat:");
        let u = UserId::new();
        assert_eq!(k.presence(u), format!("webchat:user:presence:{u}"));
        assert_eq!(k.online(), "webchat:users:online");
        assert_eq!(k.online_by_id(), "webchat:users:online:by_id");
        assert_eq!(
            k.throttle("strict", "1.2.3.4", "/api/auth/login"),
            "webchat:throttle:strict:1.2.3.4:/api/auth/login"
        );
        assert_eq!(k.channel(&Topic::Presence), "webchat:presence");
        let (chat, message) = (ChatId::new(), MessageId::new());
        assert_eq!(k.message(message), format!("webchat:message:{{{message}}}"));
        assert_eq!(
            k.chat_recent(chat),
            format!("webchat:chat:recent:{{{chat}}}")
        );
        assert_eq!(
            k.chat_pinned(chat),
            format!("webchat:chat:pinned:{{{chat}}}")
        );
        assert_eq!(
            k.chat_messages(chat),
            format!("webchat:chat:messages:{{{chat}}}")
        );
        assert_eq!(
            k.chat_changed(chat),
            format!("webchat:chat:changed:{{{chat}}}")
        );
        assert_eq!(
            k.channel(&Topic::Chat(chat)),
            format!("webchat:chat:{chat}")
        );
    }

    #[test]
    fn patterns_escape_glob_characters_in_the_prefix() {
        let k = Keys::new("a*b[1]?:");
        assert_eq!(k.pattern("message:*"), r"a\*b\[1\]\?:message:*");
    }
}
