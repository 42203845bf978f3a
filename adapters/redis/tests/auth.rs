//! REDIS_PASSWORD and REDIS_DB (or their URL forms) reach the server: against a
//! redis-server of the test's own that requires a password.

mod common;

use std::collections::HashMap;

use common::OwnRedis;
use webchat_domain::{ChatId, InstanceId, Message, MessageId, UserId};
use webchat_ports::{CacheConfig, MessageCache};
use webchat_redis::{RedisBackend, RedisConfig, RedisMessageCache};

fn config(vars: &[(&str, String)]) -> RedisConfig {
    let env: HashMap<&str, String> = vars.iter().cloned().collect();
    RedisConfig::from_env_map(&|name| env.get(name).cloned())
        .expect("valid settings")
        .expect("Redis configured")
}

/// `EXISTS key` (or `DBSIZE` when `key` is `None`) in database `db`.
async fn in_db(port: u16, db: u8, key: Option<&str>) -> i64 {
    let url = format!("redis://:s3cret@127.0.0.1:{port}/{db}");
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let cmd = match key {
        Some(key) => redis::cmd("EXISTS").arg(key).clone(),
        None => redis::cmd("DBSIZE"),
    };
    cmd.query_async(&mut conn).await.unwrap()
}

#[tokio::test]
async fn password_and_database_are_honoured() {
    let Some(server) = OwnRedis::with_args(&["--requirepass", "s3cret"]) else {
        return;
    };
    let port = server.port();

    let wrong = RedisBackend::start(
        config(&[("REDIS_URL", format!("redis://:nope@127.0.0.1:{port}"))]),
        InstanceId::random(),
    )
    .unwrap();
    assert!(wrong.ping().await.is_err(), "a wrong password is refused");

    let by_host = RedisBackend::start(
        config(&[
            ("REDIS_HOST", "127.0.0.1".to_owned()),
            ("REDIS_PORT", port.to_string()),
            ("REDIS_PASSWORD", "s3cret".to_owned()),
            ("REDIS_DB", "3".to_owned()),
        ]),
        InstanceId::random(),
    )
    .unwrap();
    by_host
        .ping()
        .await
        .expect("the password from REDIS_PASSWORD is used");
    let by_url = RedisBackend::start(
        config(&[
            ("REDIS_URL", format!("redis://:s3cret@127.0.0.1:{port}/5")),
            ("WEBCHAT_KEY_PREFIX", "other:".to_owned()),
        ]),
        InstanceId::random(),
    )
    .unwrap();

    let chat = ChatId::new();
    let message = Message {
        id: MessageId::new(),
        chat_id: chat,
        sender_id: UserId::new(),
        content: "hi".to_owned(),
        seq: 1,
        client_msg_id: None,
        created_at: chrono::Utc::now(),
        edited_at: None,
        pinned_at: None,
        version: 0,
    };
    for backend in [&by_host, &by_url] {
        RedisMessageCache::new(backend.clone(), CacheConfig::default())
            .cache_read(std::slice::from_ref(&message))
            .await
            .unwrap();
    }
    let key = |prefix: &str| format!("{prefix}message:{{{}}}", message.id);
    assert_eq!(
        in_db(port, 3, Some(&key("webchat:"))).await,
        1,
        "REDIS_DB=3 selects db 3"
    );
    assert_eq!(
        in_db(port, 5, Some(&key("other:"))).await,
        1,
        "the URL's /5 selects db 5"
    );
    assert_eq!(in_db(port, 0, None).await, 0, "nothing lands in db 0");
    for backend in [wrong, by_host, by_url] {
        backend.shutdown().await;
    }
}
