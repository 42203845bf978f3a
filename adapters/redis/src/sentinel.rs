//! Sentinel mode: the master is whatever the sentinels say it is, and a failover
//! is followed at once.
//!
//! Every connection (commands, pub/sub) is opened to the master the sentinels
//! name, after `ROLE` confirmed it is one (redis-rs's `SentinelClient`). A switch is
//! noticed three ways, whichever comes first:
//!
//! - the `+switch-master` event, which a watcher task subscribes to on a sentinel:
//!   both connections are rebuilt at once, so nothing more is written to the
//!   demoted master;
//! - a write answered `READONLY` (the master was demoted under a command): the
//!   command connection is rebuilt (`connection`);
//! - the health check every 5 s asks `ROLE` and rebuilds a connection whose server
//!   is no longer master.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, ConnectionAddr, RedisResult};
use tokio::sync::{watch, Mutex};
use webchat_domain::reconnect_backoff;

use crate::config::{RedisConfig, Topology};
use crate::connection::SharedConn;
use crate::pubsub::PubSubLink;
use crate::supervisor::stopped;

/// The sentinels of one master, asked for its address at each connect.
#[derive(Clone)]
pub(crate) struct Sentinels {
    client: Arc<Mutex<SentinelClient>>,
    master: String,
}

impl Sentinels {
    /// `None` unless `config` is in Sentinel mode.
    pub(crate) fn from_config(config: &RedisConfig) -> RedisResult<Option<Self>> {
        let Topology::Sentinel {
            sentinels,
            master,
            sentinel_password,
        } = &config.topology
        else {
            return Ok(None);
        };
        let settings = config.connection.redis_settings();
        let mut builder = SentinelClientBuilder::new(
            sentinels
                .iter()
                .map(|(host, port)| ConnectionAddr::Tcp(host.clone(), *port)),
            master,
            SentinelServerType::Master,
        )?
        .set_client_to_redis_db(settings.db());
        if let Some(password) = settings.password() {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(password) = sentinel_password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        Ok(Some(Self {
            client: Arc::new(Mutex::new(builder.build()?)),
            master: master.clone(),
        }))
    }

    /// A client of the current master (its role checked).
    pub(crate) async fn master(&self) -> RedisResult<Client> {
        self.client.lock().await.async_get_client().await
    }

    /// A client of the first sentinel that answers.
    async fn sentinel(&self) -> RedisResult<Client> {
        self.client.lock().await.async_get_sentinel_client().await
    }
}

/// Watches `+switch-master` for our master until shutdown, and rebuilds the
/// command connection and the pub/sub link each time it switches.
pub(crate) async fn watch_switches(
    sentinels: Sentinels,
    commands: SharedConn,
    link: Arc<PubSubLink>,
    mut stop: watch::Receiver<bool>,
    connect_timeout: Duration,
) {
    let mut attempt: u32 = 0;
    loop {
        let subscribed = async {
            let client = sentinels.sentinel().await?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("+switch-master").await?;
            RedisResult::Ok(pubsub)
        };
        let pubsub = tokio::select! {
            _ = stopped(&mut stop) => return,
            r = tokio::time::timeout(connect_timeout, subscribed) => r,
        };
        match pubsub {
            Ok(Ok(pubsub)) => {
                attempt = 0;
                let mut messages = pubsub.into_on_message();
                loop {
                    let msg = tokio::select! {
                        _ = stopped(&mut stop) => return,
                        msg = messages.next() => msg,
                    };
                    let Some(msg) = msg else { break };
                    // "<master name> <old ip> <old port> <new ip> <new port>"
                    let payload: String = msg.get_payload().unwrap_or_default();
                    if payload.split_whitespace().next() == Some(sentinels.master.as_str()) {
                        tracing::warn!(
                            switch = payload,
                            "redis master switched; reconnecting to the new master"
                        );
                        commands.reconnect_now();
                        link.reconnect_now();
                    }
                }
                tracing::warn!("sentinel connection lost; watching another");
            }
            Ok(Err(e)) => {
                if attempt == 0 {
                    tracing::warn!(error = %e, "cannot watch the sentinels for a master switch");
                }
            }
            Err(_) => {
                if attempt == 0 {
                    tracing::warn!("watching the sentinels timed out");
                }
            }
        }
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(reconnect_backoff(attempt)) => {}
        }
    }
}
