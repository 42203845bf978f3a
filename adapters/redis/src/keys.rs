//! Every key and channel name, in one place, so the schema in the crate docs and the
//! code cannot drift apart.

use webchat_domain::{ChatId, InstanceId, MessageId, SessionId, Topic, UserId};

use crate::slots;

/// Builds prefixed key and channel names.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    /// Online sets one per hash slot (Cluster), or one for everybody (a single
    /// server or Sentinel, where nothing forces scripts onto one slot and reading
    /// 16,384 sets would stall Redis on every page of online users).
    slotted: bool,
}

/// The tag of the one online set (and by-id zset) outside Cluster mode.
pub(crate) const UNSLOTTED_TAG: &str = "all";

impl Keys {
    /// Keys for a Redis Cluster: online sets one per slot.
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            slotted: true,
        }
    }

    /// Keys for a single server or Sentinel: one online set.
    pub(crate) fn unslotted(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            slotted: false,
        }
    }

    /// The online-set tag `user` belongs under.
    fn online_tag(&self, user: UserId) -> &'static str {
        if self.slotted {
            slots::tag_of_slot(slots::slot(user.to_string().as_bytes()))
        } else {
            UNSLOTTED_TAG
        }
    }

    /// Every online-set tag there can be: each slot's in Cluster mode, else one.
    pub(crate) fn online_tags(&self) -> Vec<&'static str> {
        if self.slotted {
            slots::every_slot_tag().iter().map(String::as_str).collect()
        } else {
            vec![UNSLOTTED_TAG]
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

    // Every key of one user or chat carries that id as its hash tag (the text in
    // braces decides the Redis Cluster slot), so each script and MULTI touches one
    // slot. A single-node Redis uses the same names.

    pub(crate) fn presence(&self, user: UserId) -> String {
        self.presence_of(&user.to_string())
    }
    /// The presence key of a user id read back from an online set.
    pub(crate) fn presence_of(&self, user: &str) -> String {
        self.key(format_args!("user:presence:{{{user}}}"))
    }
    /// A presence key's name around its user id, like [`Keys::online_set_parts`].
    pub(crate) fn presence_parts(&self) -> (String, &'static str) {
        (self.key(format_args!("user:presence:{{")), "}")
    }
    pub(crate) fn sockets(&self, user: UserId) -> String {
        self.sockets_of(&user.to_string())
    }
    /// The socket set of a user id read back from an online set.
    pub(crate) fn sockets_of(&self, user: &str) -> String {
        self.key(format_args!("user:sockets:{{{user}}}"))
    }
    /// The online set `user` belongs in: one set per hash slot, tagged so that it
    /// shares the slot of the user's own keys (the presence scripts stay single-slot
    /// and atomic in Cluster mode; see `slots`).
    pub(crate) fn online(&self, user: UserId) -> String {
        self.online_set(self.online_tag(user))
    }
    /// The online set of the slot whose tag is `tag`.
    pub(crate) fn online_set(&self, tag: &str) -> String {
        self.key(format_args!("users:online:{{{tag}}}"))
    }
    /// Every online set there can be (one per slot in Cluster mode), slot 0 first.
    #[cfg(test)]
    pub(crate) fn online_sets(&self) -> impl Iterator<Item = String> + '_ {
        self.online_tags()
            .into_iter()
            .map(|tag| self.online_set(tag))
    }
    /// An online set's name around its tag: `online_set(t)` is `before + t + after`.
    pub(crate) fn online_set_parts(&self) -> (String, &'static str) {
        (self.key(format_args!("users:online:{{")), "}")
    }
    /// The by-id zset beside `user`'s online set (the same ids, scores 0, ordered by
    /// id for paging): one per hash slot, on the slot of its online set.
    pub(crate) fn online_by_id(&self, user: UserId) -> String {
        self.online_by_id_set(self.online_tag(user))
    }
    /// The by-id zset of the slot whose tag is `tag`.
    pub(crate) fn online_by_id_set(&self, tag: &str) -> String {
        self.key(format_args!("users:online:by_id:{{{tag}}}"))
    }
    /// A by-id zset's name around its tag, like [`Keys::online_set_parts`].
    pub(crate) fn online_by_id_parts(&self) -> (String, &'static str) {
        (self.key(format_args!("users:online:by_id:{{")), "}")
    }
    pub(crate) fn instance(&self, instance: &InstanceId) -> String {
        self.instance_of(instance.as_str())
    }
    /// The heartbeat key of an instance id read back from the registry.
    pub(crate) fn instance_of(&self, instance: &str) -> String {
        self.key(format_args!("instance:{{{instance}}}"))
    }
    /// The registry of instances that ever heart-beat (a zset, one key), which the
    /// cleanup job reads to learn which instances stopped.
    pub(crate) fn instances(&self) -> String {
        self.key(format_args!("instances"))
    }

    pub(crate) fn session(&self, id: SessionId) -> String {
        self.session_of(&id.to_string())
    }
    /// The session key of an id read back from a user's index. Tagged by the
    /// session id: a session is found by its id alone (a refresh token carries no
    /// user), so it does not share its user's slot.
    pub(crate) fn session_of(&self, id: &str) -> String {
        self.key(format_args!("session:{{{id}}}"))
    }
    /// A session key's name around its id: `session_of(id)` is `before + id + after`.
    pub(crate) fn session_parts(&self) -> (String, &'static str) {
        (self.key(format_args!("session:{{")), "}")
    }
    pub(crate) fn user_sessions(&self, user: UserId) -> String {
        self.key(format_args!("user:sessions:{{{user}}}"))
    }
    pub(crate) fn blacklist(&self, fingerprint: &str) -> String {
        self.key(format_args!("token:blacklist:{{{fingerprint}}}"))
    }

    /// Tagged by the subject (`user:{id}` or `ip:{addr}`): the route template comes
    /// after the tag, so its own `{id}` never decides the slot.
    pub(crate) fn throttle(&self, policy: &str, subject: &str, route: &str) -> String {
        self.key(format_args!("throttle:{policy}:{{{subject}}}:{route}"))
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
            Topic::Chat(chat) => self.key(format_args!("chat:{{{chat}}}")),
            Topic::User(user) => self.key(format_args!("user:{{{user}}}")),
            Topic::Presence => self.key(format_args!("presence")),
        }
    }

    /// Whether a topic's channel is a shard channel in Cluster mode (SPUBLISH /
    /// SSUBSCRIBE on the slot of its tag). `presence` is not: every instance hears
    /// it, so it goes over classic pub/sub, which the cluster bus broadcasts.
    pub(crate) fn is_sharded(topic: &Topic) -> bool {
        !matches!(topic, Topic::Presence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract_table() {
        let k = Keys::new("webchat:");
        let u = UserId::new();
        assert_eq!(k.presence(u), format!("webchat:user:presence:{{{u}}}"));
        assert_eq!(k.sockets(u), format!("webchat:user:sockets:{{{u}}}"));
        assert_eq!(
            k.throttle("strict", "ip:1.2.3.4", "/api/chats/{id}/messages"),
            "webchat:throttle:strict:{ip:1.2.3.4}:/api/chats/{id}/messages"
        );
        // Login throttles: per account, and per IPv6 /64 (the subject names the network).
        assert_eq!(
            k.throttle("strict", "account:alice", "/api/auth/login"),
            "webchat:throttle:strict:{account:alice}:/api/auth/login"
        );
        assert_eq!(
            k.throttle("strict", "ip:2001:db8:1:2::/64", "/api/auth/login"),
            "webchat:throttle:strict:{ip:2001:db8:1:2::/64}:/api/auth/login"
        );
        assert_eq!(k.user_sessions(u), format!("webchat:user:sessions:{{{u}}}"));
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
            format!("webchat:chat:{{{chat}}}")
        );
        assert_eq!(k.channel(&Topic::User(u)), format!("webchat:user:{{{u}}}"));
    }

    #[test]
    fn every_multi_key_group_shares_one_slot() {
        let k = Keys::new("webchat:");
        let slot = |key: &str| slots::slot(key.as_bytes());
        for _ in 0..200 {
            let (u, chat) = (UserId::new(), ChatId::new());
            let user_keys = [
                k.presence(u),
                k.sockets(u),
                k.online(u),
                k.online_by_id(u),
                k.user_sessions(u),
            ];
            assert!(
                user_keys.iter().all(|key| slot(key) == slot(&user_keys[0])),
                "{user_keys:?}"
            );
            assert_eq!(slot(&k.channel(&Topic::User(u))), slot(&user_keys[0]));
            let chat_keys = [
                k.chat_recent(chat),
                k.chat_pinned(chat),
                k.chat_messages(chat),
                k.chat_changed(chat),
                k.channel(&Topic::Chat(chat)),
            ];
            assert!(
                chat_keys.iter().all(|key| slot(key) == slot(&chat_keys[0])),
                "{chat_keys:?}"
            );
        }
        assert_eq!(k.online_sets().count(), usize::from(slots::SLOTS));
        let single = Keys::unslotted("webchat:");
        let users = [UserId::new(), UserId::new(), UserId::new()];
        assert!(users
            .iter()
            .all(|u| single.online(*u) == "webchat:users:online:{all}"));
        assert_eq!(
            single.online_sets().collect::<Vec<_>>(),
            ["webchat:users:online:{all}"]
        );
        let (before, after) = k.online_set_parts();
        assert_eq!(format!("{before}ab{after}"), k.online_set("ab"));
        let (before, after) = k.online_by_id_parts();
        assert_eq!(format!("{before}ab{after}"), k.online_by_id_set("ab"));
        assert_eq!(k.online_by_id_set("ab"), "webchat:users:online:by_id:{ab}");
        let (before, after) = k.presence_parts();
        assert_eq!(format!("{before}ab{after}"), k.presence_of("ab"));
        let (before, after) = k.session_parts();
        assert_eq!(format!("{before}ab{after}"), k.session_of("ab"));
    }

    #[test]
    fn patterns_escape_glob_characters_in_the_prefix() {
        let k = Keys::new("a*b[1]?:");
        assert_eq!(k.pattern("message:*"), r"a\*b\[1\]\?:message:*");
    }
}
