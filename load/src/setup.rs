//! Who sits where, and the accounts and chats behind it. The layout is load.js's:
//! connection i goes to URL i % U, into chat floor(i / M), as user i % users, so one
//! chat's consecutive members (its senders) sit on different instances.

use std::collections::BTreeSet;

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};

use crate::api::{Api, Session};
use crate::util::progress;

#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub index: usize,
    pub url: usize,
    pub chat: usize,
    pub user: usize,
}

#[derive(Debug)]
pub struct Layout {
    pub slots: Vec<Slot>,
    /// Per chat, the slots (connections) in it.
    pub chats: Vec<Vec<usize>>,
    pub users: usize,
}

impl Layout {
    pub fn new(conns: usize, members: usize, users: usize, urls: usize) -> Self {
        let members = members.max(1);
        let users = users.clamp(1, conns.max(1));
        let mut slots = Vec::with_capacity(conns);
        let mut chats: Vec<Vec<usize>> = Vec::new();
        for i in 0..conns {
            let chat = i / members;
            slots.push(Slot {
                index: i,
                url: i % urls.max(1),
                chat,
                user: i % users,
            });
            if chats.len() <= chat {
                chats.push(Vec::new());
            }
            chats[chat].push(i);
        }
        Self {
            slots,
            chats,
            users,
        }
    }

    /// The distinct users of a chat, its first slot's user first (the creator).
    pub fn chat_users(&self, chat: usize) -> Vec<usize> {
        let mut seen = BTreeSet::new();
        self.chats[chat]
            .iter()
            .map(|&s| self.slots[s].user)
            .filter(|u| seen.insert(*u))
            .collect()
    }

    /// Chats each user belongs to (a user with several sockets may be in several).
    pub fn user_chats(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.users];
        for chat in 0..self.chats.len() {
            for u in self.chat_users(chat) {
                out[u].push(chat);
            }
        }
        out
    }
}

pub struct Accounts {
    pub users: Vec<Session>,
    pub chat_ids: Vec<String>,
}

/// Registers and logs in every user, then creates every chat (by its first member,
/// with the others as `member_ids`). Sockets connect afterwards: webchat subscribes
/// a socket to its user's chats on connect.
pub async fn create_accounts(
    api: &Api,
    urls: &[String],
    layout: &Layout,
    run_id: &str,
    concurrency: usize,
) -> Result<Accounts> {
    let concurrency = concurrency.max(1);
    progress!("registering and logging in {} users...", layout.users);
    let users: Vec<Session> = futures::stream::iter(0..layout.users)
        .map(|u| {
            let base = &urls[u % urls.len()];
            let username = format!("ld{run_id}_{u}");
            async move {
                let s = api.register_login(base, &username).await?;
                if (u + 1) % 1000 == 0 {
                    progress!("  {} users ready", u + 1);
                }
                Ok::<_, anyhow::Error>(s)
            }
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    progress!("creating {} chats...", layout.chats.len());
    let users_ref = &users;
    let chat_ids: Vec<String> = futures::stream::iter(0..layout.chats.len())
        .map(|k| {
            let members = layout.chat_users(k);
            let creator = &users_ref[members[0]];
            let others: Vec<String> = members[1..]
                .iter()
                .map(|&u| users_ref[u].id.clone())
                .collect();
            let base = &urls[k % urls.len()];
            let name = format!("load-{run_id}-{k}");
            async move { api.create_chat(base, creator, &name, &others).await }
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    Ok(Accounts { users, chat_ids })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_load_js() {
        let l = Layout::new(10, 4, 10, 2);
        assert_eq!(
            l.chats,
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
        );
        assert_eq!(l.slots[5].url, 1);
        assert_eq!(l.slots[5].chat, 1);
        // consecutive members of a chat land on different URLs
        assert_ne!(l.slots[4].url, l.slots[5].url);
    }

    #[test]
    fn fewer_users_than_sockets() {
        let l = Layout::new(6, 3, 2, 1);
        assert_eq!(l.chat_users(0), vec![0, 1]);
        assert_eq!(l.chat_users(1), vec![1, 0]);
        assert_eq!(l.user_chats(), vec![vec![0, 1], vec![0, 1]]);
    }
}
