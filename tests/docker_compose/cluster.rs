//! docker-compose.cluster.yml, the scaled-out stack: three instances on a Redis
//! Cluster (three masters, a replica each) behind nginx.

use std::collections::BTreeSet;

use crate::support::{compose_file, depends_on, docker_dir, env_of, read, scalar, service};

const INSTANCES: [&str; 3] = ["webchat-1", "webchat-2", "webchat-3"];
const NODES: [&str; 6] = [
    "redis-1", "redis-2", "redis-3", "redis-4", "redis-5", "redis-6",
];

#[test]
fn three_instances_share_one_redis_cluster_and_one_secret() {
    let c = compose_file("docker-compose.cluster.yml");
    let mut ids = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    for instance in INSTANCES {
        let svc = service(&c, instance);
        let env = env_of(svc);
        let seeds: BTreeSet<String> = env["REDIS_CLUSTER_NODES"]
            .split(',')
            .map(|n| n.trim().to_owned())
            .collect();
        let want: BTreeSet<String> = NODES.iter().map(|n| format!("redis://{n}:6379")).collect();
        assert_eq!(
            seeds, want,
            "{instance}: REDIS_CLUSTER_NODES names every node"
        );
        assert!(!env.contains_key("REDIS_URL") && !env.contains_key("REDIS_HOST"));
        assert!(
            env["WEBCHAT_JWT_SECRET"].starts_with("${") && env["WEBCHAT_JWT_SECRET"].contains(":?"),
            "{instance}: the JWT secret is required from the environment"
        );
        secrets.insert(env["WEBCHAT_JWT_SECRET"].clone());
        ids.insert(env["WEBCHAT_INSTANCE_ID"].clone());
        let deps = depends_on(svc);
        assert_eq!(
            deps.get("redis-cluster-init").map(String::as_str),
            Some("service_completed_successfully"),
            "{instance} starts once the cluster is formed"
        );
        assert_eq!(
            deps.get("postgres").map(String::as_str),
            Some("service_healthy")
        );
    }
    assert_eq!(ids.len(), 3, "instance ids collide: {ids:?}");
    assert_eq!(secrets.len(), 1, "instances must share one JWT secret");
}

#[test]
fn every_redis_node_is_a_durable_password_protected_cluster_node() {
    let c = compose_file("docker-compose.cluster.yml");
    let password = env_of(service(&c, "webchat-1"))["REDIS_PASSWORD"].clone();
    for node in NODES {
        let svc = service(&c, node);
        let command = scalar(&svc["command"]);
        for want in [
            "--cluster-enabled yes".to_owned(),
            "--appendonly yes".to_owned(),
            format!("--requirepass {password}"),
            format!("--masterauth {password}"),
            format!("--cluster-announce-hostname {node}"),
        ] {
            assert!(command.contains(&want), "{node} lacks `{want}`: {command}");
        }
        let volumes: Vec<String> = svc["volumes"]
            .as_sequence()
            .expect("volumes")
            .iter()
            .map(scalar)
            .collect();
        let volume = volumes[0].split(':').next().unwrap().to_owned();
        assert!(volumes[0].ends_with(":/data"), "{node}: {volumes:?}");
        assert!(
            c["volumes"].get(volume.as_str()).is_some(),
            "{node}: volume {volume} declared"
        );
    }
    let init = service(&c, "redis-cluster-init");
    let script = scalar(&init["command"][0]);
    assert!(
        script.contains("--cluster-replicas 1"),
        "three masters with a replica each"
    );
    assert_eq!(
        depends_on(init).len(),
        NODES.len(),
        "the init job waits for every node"
    );
}

#[test]
fn the_proxy_balances_over_the_three_instances() {
    let c = compose_file("docker-compose.cluster.yml");
    let proxy = service(&c, "proxy");
    let mount = proxy["volumes"][0]
        .as_str()
        .expect("a mounted config")
        .to_owned();
    let file = mount.split(':').next().unwrap().trim_start_matches("./");
    let conf = read(&docker_dir().join(file));
    for instance in INSTANCES {
        assert!(
            conf.contains(&format!("server {instance}:4000")),
            "{file} sends nothing to {instance}"
        );
        assert!(depends_on(proxy).contains_key(instance));
    }
}
