//! docker-compose.yml: the backends stay up and keep their data, and both instances
//! reach them with matching credentials.

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

use crate::support::{
    compose, depends_on, docker_dir, env_of, healthcheck_test, repo_root, scalar, service,
    INSTANCES,
};

#[test]
fn compose_declares_the_whole_stack() {
    let c = compose();
    let services = c["services"].as_mapping().expect("services is a mapping");
    let names: BTreeSet<String> = services.keys().map(scalar).collect();
    for want in ["redis", "postgres", "webchat-1", "webchat-2", "proxy"] {
        assert!(
            names.contains(want),
            "service {want} missing; have {names:?}"
        );
    }
}

#[test]
fn redis_is_durable_password_protected_and_health_checked() {
    let c = compose();
    let redis = service(&c, "redis");
    let command = scalar(&redis["command"]);
    assert!(command.contains("--appendonly yes"), "AOF off: {command}");
    let password = command
        .split("--requirepass ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("redis has no --requirepass: {command}"));

    // The health probe must authenticate with the same password, or it never passes.
    let probe = healthcheck_test(redis);
    assert!(probe.iter().any(|a| a == "redis-cli"), "probe: {probe:?}");
    let auth = probe
        .iter()
        .position(|a| a == "-a")
        .expect("probe authenticates");
    assert_eq!(
        probe[auth + 1],
        password,
        "probe password differs from requirepass"
    );
    for instance in INSTANCES {
        let env = env_of(service(&c, instance));
        assert_eq!(env["REDIS_PASSWORD"], password, "{instance} REDIS_PASSWORD");
    }

    assert_retrying_healthcheck(redis, "redis");
    assert_restarts(redis, "redis");
    assert_named_volume(&c, redis, "/data", "redis");
}

#[test]
fn postgres_keeps_its_data_and_reports_health() {
    let c = compose();
    let pg = service(&c, "postgres");
    let probe = healthcheck_test(pg).join(" ");
    assert!(probe.contains("pg_isready"), "postgres probe: {probe}");
    assert_retrying_healthcheck(pg, "postgres");
    assert_restarts(pg, "postgres");
    assert_named_volume(&c, pg, "/var/lib/postgresql/data", "postgres");

    // The instances' DATABASE_URL must name the user, password and database created here.
    let env = env_of(pg);
    let want = format!(
        "postgres://{}:{}@postgres:5432/{}",
        env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
    );
    for instance in INSTANCES {
        assert_eq!(
            env_of(service(&c, instance))["DATABASE_URL"],
            want,
            "{instance}"
        );
    }
}

#[test]
fn webchat_instances_share_backends_and_have_distinct_ids() {
    let c = compose();
    let mut ids = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    for instance in INSTANCES {
        let svc = service(&c, instance);
        let env = env_of(svc);
        for key in [
            "REDIS_HOST",
            "REDIS_PASSWORD",
            "DATABASE_URL",
            "WEBCHAT_JWT_SECRET",
        ] {
            assert!(env.contains_key(key), "{instance} lacks {key}");
        }
        assert_eq!(env["REDIS_HOST"], "redis", "{instance} REDIS_HOST");
        assert_eq!(
            env["HOST"], "0.0.0.0",
            "{instance} must listen beyond loopback"
        );
        // A default secret would let anyone who read this file forge tokens.
        assert!(
            env["WEBCHAT_JWT_SECRET"].starts_with("${") && env["WEBCHAT_JWT_SECRET"].contains(":?"),
            "{instance} WEBCHAT_JWT_SECRET must be required from the environment"
        );
        secrets.insert(env["WEBCHAT_JWT_SECRET"].clone());

        let id = env
            .get("WEBCHAT_INSTANCE_ID")
            .expect("instance id set")
            .clone();
        assert!(
            !id.is_empty() && id.len() <= 64 && !id.contains(':') && !id.contains(' '),
            "{instance}: {id:?} is not a valid instance id"
        );
        ids.insert(id);

        let deps = depends_on(svc);
        for backend in ["redis", "postgres"] {
            assert_eq!(
                deps.get(backend).map(String::as_str),
                Some("service_healthy"),
                "{instance} must wait for {backend} to be healthy"
            );
        }
        let probe = healthcheck_test(svc).join(" ");
        assert!(probe.contains("/health/live"), "{instance} probe: {probe}");
        assert_restarts(svc, instance);

        let build = &svc["build"];
        let dockerfile = docker_dir()
            .join(scalar(&build["context"]))
            .join(scalar(&build["dockerfile"]));
        assert_eq!(
            dockerfile.canonicalize().ok(),
            repo_root().join("docker/Dockerfile").canonicalize().ok(),
            "{instance} must build docker/Dockerfile from the repository root"
        );
    }
    assert_eq!(ids.len(), INSTANCES.len(), "instance ids collide: {ids:?}");
    assert_eq!(secrets.len(), 1, "instances must share one JWT secret");
}

fn assert_retrying_healthcheck(svc: &Value, name: &str) {
    let hc = &svc["healthcheck"];
    for key in ["interval", "timeout", "retries"] {
        assert!(hc.get(key).is_some(), "{name} healthcheck lacks {key}");
    }
}

fn assert_restarts(svc: &Value, name: &str) {
    let policy = scalar(&svc["restart"]);
    assert!(
        ["unless-stopped", "always", "on-failure"].contains(&policy.as_str()),
        "{name} restart policy {policy:?} does not bring it back"
    );
}

fn assert_named_volume(c: &Value, svc: &Value, path: &str, name: &str) {
    let volumes = svc["volumes"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{name} has no volumes"));
    let volume = volumes
        .iter()
        .map(scalar)
        .find_map(|v| {
            let mut parts = v.split(':');
            let (source, target) = (parts.next()?, parts.next()?);
            (target == path).then(|| source.to_owned())
        })
        .unwrap_or_else(|| panic!("{name} mounts nothing at {path}"));
    assert!(
        c["volumes"].get(volume.as_str()).is_some(),
        "{name}: volume {volume} is not declared at the top level (a bind or anonymous mount is lost on `down`)"
    );
}
