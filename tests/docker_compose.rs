//! The container deployment in docker/, checked as text (no Docker engine needed):
//! each test guards one property the compose stack or the image depends on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

const INSTANCES: [&str; 2] = ["webchat-1", "webchat-2"];

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

#[test]
fn proxy_publishes_a_port_and_upgrades_websockets_to_every_instance() {
    let c = compose();
    let proxy = service(&c, "proxy");
    let conf_text = nginx_conf_mounted_by(proxy);
    let conf = nginx_directives(&conf_text);

    let listen = conf
        .iter()
        .find(|d| d.starts_with("listen "))
        .expect("nginx listens");
    let container_port = listen
        .trim_start_matches("listen ")
        .split_whitespace()
        .next()
        .unwrap();
    let ports = proxy["ports"].as_sequence().expect("proxy publishes ports");
    assert!(
        ports.iter().any(|p| match p.get("target") {
            Some(target) => scalar(target) == container_port,
            None => scalar(p).rsplit(':').next() == Some(container_port),
        }),
        "proxy publishes no port onto nginx's {container_port}: {ports:?}"
    );

    for want in [
        "proxy_http_version 1.1",
        "proxy_set_header Upgrade $http_upgrade",
        "proxy_set_header Connection $connection_upgrade",
        "client_max_body_size 64k",
    ] {
        assert!(conf.iter().any(|d| d == want), "nginx.conf lacks `{want}`");
    }
    assert!(
        conf.iter()
            .any(|d| d == "map $http_upgrade $connection_upgrade"),
        "no map from $http_upgrade to $connection_upgrade"
    );
    // The server trusts the first X-Forwarded-For entry, so nginx must replace what the
    // client sent rather than append to it.
    assert!(
        conf.iter()
            .any(|d| d == "proxy_set_header X-Forwarded-For $remote_addr"),
        "X-Forwarded-For must be overwritten with $remote_addr"
    );

    let deps = depends_on(proxy);
    for instance in INSTANCES {
        assert!(
            deps.contains_key(instance),
            "proxy does not depend on {instance}"
        );
        let port = &env_of(service(&c, instance))["PORT"];
        let line = format!("server {instance}:{port}");
        assert!(
            conf.iter().any(|d| d.starts_with(&line)),
            "upstream lacks `{line}`"
        );
    }

    // The server pings every 25 s; the proxy must not cut an idle socket before that.
    let ws = block_after(&conf_text, "location /ws").expect("nginx has a /ws location");
    let read_timeout = nginx_directives(&ws)
        .iter()
        .find_map(|d| d.strip_prefix("proxy_read_timeout ").map(seconds))
        .unwrap_or(60);
    assert!(
        read_timeout > 25,
        "/ws proxy_read_timeout {read_timeout}s <= the 25 s ping"
    );

    // nginx drops inherited proxy_set_header lines in a location that sets its own, which
    // would silently strip the upgrade headers there.
    let mut rest = conf_text.as_str();
    while let Some(at) = rest.find("location ") {
        let block = block_after(&rest[at..], "location ").expect("balanced braces");
        if block.contains("proxy_set_header") {
            assert!(
                block.contains("Upgrade $http_upgrade"),
                "location drops Upgrade: {block}"
            );
        }
        rest = &rest[at + "location ".len()..];
    }
}

#[test]
fn proxy_access_log_leaves_out_query_strings() {
    // The WebSocket upgrade carries the access token in its query string (/ws?token=).
    let c = compose();
    let conf = nginx_directives(&nginx_conf_mounted_by(service(&c, "proxy")));
    let access_log = conf
        .iter()
        .find_map(|d| d.strip_prefix("access_log "))
        .expect("nginx.conf sets access_log (the image default logs $request)");
    if access_log == "off" {
        return;
    }
    let format = access_log
        .split_whitespace()
        .nth(1)
        .expect("access_log names a format (the default one logs $request)");
    let definition = conf
        .iter()
        .find_map(|d| d.strip_prefix(&format!("log_format {format} ")))
        .unwrap_or_else(|| panic!("log_format {format} is not defined"));
    for var in definition.split('$').skip(1) {
        let name: String = var
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            ![
                "request",
                "request_uri",
                "args",
                "query_string",
                "is_args",
                "arg_token"
            ]
            .contains(&name.as_str()),
            "log_format {format} logs ${name}, which can hold an access token"
        );
    }
}

fn nginx_conf_mounted_by(proxy: &Value) -> String {
    let volumes = proxy["volumes"]
        .as_sequence()
        .expect("proxy mounts its config");
    let mount = volumes
        .iter()
        .map(scalar)
        .find(|v| v.contains("/etc/nginx/"))
        .expect("proxy mounts a file into /etc/nginx/");
    let source = mount.split(':').next().unwrap();
    strip_comments(&read(&docker_dir().join(source)))
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

#[test]
fn dockerfile_is_multistage_and_runs_a_non_root_health_checked_server() {
    let stages = dockerfile_stages();
    assert!(
        stages.len() >= 2,
        "the image must be multi-stage: {} FROM",
        stages.len()
    );
    let (builder, runtime) = (&stages[0], stages.last().unwrap());
    let from = &builder[0].1;
    assert!(from.starts_with("rust:"), "builder FROM {from}");
    let builder_name = from
        .rsplit(" AS ")
        .next()
        .filter(|_| from.contains(" AS "))
        .expect("named builder");
    assert!(
        !runtime[0].1.starts_with("rust:"),
        "the runtime image must not carry the toolchain"
    );

    let runs = |stage: &[(String, String)]| -> String {
        stage
            .iter()
            .filter(|(k, _)| k == "RUN")
            .map(|(_, a)| a.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Every cargo build, the dependency layer's too, builds exactly the server binary.
    let build_steps = runs(builder);
    let builds: Vec<&str> = build_steps.split("cargo build").skip(1).collect();
    assert!(!builds.is_empty(), "the builder never runs cargo build");
    for args in builds {
        let args = args.split(';').next().unwrap();
        assert!(
            args.contains("--release") && args.contains("--bin webchat"),
            "`cargo build{args}` is not a release build of the webchat binary"
        );
    }
    let copy_from = format!("--from={builder_name} ");
    assert!(
        instructions(runtime, "COPY").any(|a| a.starts_with(&copy_from)),
        "the runtime stage does not take the binary from {builder_name}"
    );

    let user = instructions(runtime, "USER")
        .last()
        .expect("the runtime stage sets USER");
    let who = user.split(':').next().unwrap();
    assert!(
        who != "root" && who != "0",
        "the server runs as root ({user})"
    );

    let health = instructions(runtime, "HEALTHCHECK")
        .last()
        .expect("HEALTHCHECK");
    assert!(
        health.contains("/health/live"),
        "HEALTHCHECK probes {health}"
    );
    let tool = health
        .split(" CMD ")
        .nth(1)
        .and_then(|c| c.split_whitespace().next())
        .expect("CMD");
    assert!(
        runs(runtime).contains(tool),
        "the runtime stage never installs {tool}"
    );

    let one = |key: &str| {
        instructions(runtime, key)
            .last()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        one("EXPOSE").split_whitespace().any(|p| p == "4000"),
        "EXPOSE 4000"
    );
    assert!(
        one("ENV").contains("HOST=0.0.0.0"),
        "the server must listen beyond loopback"
    );
    assert_eq!(one("ENTRYPOINT"), r#"["webchat"]"#);
    assert_eq!(one("CMD"), r#"["serve"]"#);
}

#[test]
fn dockerfile_copies_every_workspace_member_from_an_allowed_context() {
    let text = read(&docker_dir().join("Dockerfile"));
    let stages = dockerfile_stages();
    // Sources of the builder's COPY instructions (the last word is the destination).
    let copies: Vec<&str> = instructions(&stages[0], "COPY")
        .filter(|a| !a.starts_with("--"))
        .flat_map(|a| {
            let words: Vec<&str> = a.split_whitespace().collect();
            words[..words.len() - 1].to_vec()
        })
        .collect();
    let copied = |src: &str| copies.contains(&src);

    let metadata = cargo_json(&["metadata", "--no-deps", "--format-version", "1"]);
    let root = PathBuf::from(metadata["workspace_root"].as_str().unwrap());
    for package in metadata["packages"].as_array().unwrap() {
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
        let dir = manifest
            .parent()
            .unwrap()
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let at = |file: &str| {
            if dir.is_empty() {
                file.to_owned()
            } else {
                format!("{dir}/{file}")
            }
        };
        assert!(copied(&at("src")), "Dockerfile never copies {}", at("src"));
        let manifest = at("Cargo.toml");
        assert!(copied(&manifest), "Dockerfile never copies {manifest}");
        // The dependency layer builds against a placeholder lib.rs for every member.
        if !dir.is_empty() {
            let stub_loop = text
                .split("for crate in ")
                .nth(1)
                .and_then(|r| r.split(';').next());
            assert!(
                stub_loop.is_some_and(|l| l.split_whitespace().any(|d| d == dir)),
                "the dependency layer has no placeholder for {dir}"
            );
        }
    }
    assert!(copied("Cargo.lock"), "a --locked build needs Cargo.lock");
    assert!(
        copied("migrations"),
        "migrations/ is compiled in and must be copied"
    );

    let ignore = read(&docker_dir().join("Dockerfile.dockerignore"));
    let allowed: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .collect();
    for source in &copies {
        assert!(
            repo_root().join(source).exists(),
            "COPY {source}: no such path"
        );
        let top = source.split('/').next().unwrap();
        assert!(
            allowed.contains(&top),
            "COPY {source}: excluded by Dockerfile.dockerignore"
        );
    }
}

#[test]
fn dockerfile_toolchain_is_new_enough_for_the_locked_dependencies() {
    let text = read(&docker_dir().join("Dockerfile"));
    let image = text
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .expect("ARG RUST_VERSION=<x.y> names the builder toolchain");
    let image = version(image.trim());

    let metadata = cargo_json(&[
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--filter-platform",
        "host-tuple",
    ]);
    let nodes: BTreeMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    // What `cargo build` compiles: workspace members and their normal and build
    // dependencies, transitively (dev-dependencies never reach the image).
    let mut todo: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let mut built = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !built.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let kinds = dep["dep_kinds"].as_array().unwrap();
            if kinds.iter().any(|k| k["kind"].as_str() != Some("dev")) {
                todo.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    for package in metadata["packages"].as_array().unwrap() {
        let id = package["id"].as_str().unwrap();
        if let (true, Some(needs)) = (built.contains(id), package["rust_version"].as_str()) {
            assert!(
                version(needs) <= image,
                "{} needs rustc {needs}, the Dockerfile builds with {image:?}",
                package["name"]
            );
        }
    }
}

// ---- reading the files ----

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn docker_dir() -> PathBuf {
    repo_root().join("docker")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The compose file with its `<<: *anchor` merges applied, as Compose applies them.
fn compose() -> Value {
    let text = read(&docker_dir().join("docker-compose.yml"));
    let mut value: Value = serde_yaml_ng::from_str(&text).expect("docker-compose.yml parses");
    value.apply_merge().expect("merge keys resolve");
    value
}

fn service<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["services"]
        .get(name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// `environment:` in either of its Compose forms (mapping, or list of `KEY=value`).
fn env_of(svc: &Value) -> BTreeMap<String, String> {
    match &svc["environment"] {
        Value::Mapping(m) => m.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Value::Sequence(s) => s
            .iter()
            .map(|e| {
                let e = scalar(e);
                let (k, v) = e.split_once('=').unwrap_or((&e, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Service name -> condition, for both the list and the long `depends_on` forms.
fn depends_on(svc: &Value) -> BTreeMap<String, String> {
    match &svc["depends_on"] {
        Value::Sequence(s) => s
            .iter()
            .map(|n| (scalar(n), "service_started".into()))
            .collect(),
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let condition = v.get("condition").map(scalar);
                (
                    scalar(k),
                    condition.unwrap_or_else(|| "service_started".into()),
                )
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The probe command; a string `test` is what Compose runs through a shell.
fn healthcheck_test(svc: &Value) -> Vec<String> {
    let probe = match &svc["healthcheck"]["test"] {
        Value::Sequence(s) => s.iter().map(scalar).collect(),
        Value::String(s) => vec!["CMD-SHELL".to_owned(), s.clone()],
        _ => Vec::new(),
    };
    assert!(
        probe.len() > 1 && probe[0] != "NONE",
        "no healthcheck: {probe:?}"
    );
    probe
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.split('#').next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// nginx statements, whitespace-normalised: `proxy_http_version 1.1`, `location /ws`, ...
fn nginx_directives(text: &str) -> Vec<String> {
    text.split([';', '{', '}'])
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| !d.is_empty())
        .collect()
}

/// The body of the first `{ ... }` block opened after `marker`.
fn block_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)?;
    let open = start + text[start..].find('{')?;
    let mut depth = 0;
    for (i, ch) in text[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 1 => return Some(text[open + 1..open + i].to_owned()),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// An nginx time (`75s`, `2m`, `60`) in seconds.
fn seconds(value: &str) -> u64 {
    let (digits, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let n: u64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("not a time: {value}"));
    match unit {
        "" | "s" => n,
        "m" => n * 60,
        other => panic!("unexpected time unit {other:?} in {value}"),
    }
}

// ---- the Dockerfile ----

/// (INSTRUCTION, arguments) per stage, continuation lines joined, comments dropped.
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let text = read(&docker_dir().join("Dockerfile"));
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for l in logical.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let (keyword, args) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
        let entry = (
            keyword.to_uppercase(),
            args.split_whitespace().collect::<Vec<_>>().join(" "),
        );
        if entry.0 == "FROM" {
            stages.push(Vec::new());
        }
        // Instructions before the first FROM (global ARGs) belong to no stage.
        if let Some(stage) = stages.last_mut() {
            stage.push(entry);
        }
    }
    stages
}

fn instructions<'a>(
    stage: &'a [(String, String)],
    keyword: &'a str,
) -> impl Iterator<Item = &'a str> {
    stage
        .iter()
        .filter(move |(k, _)| k == keyword)
        .map(|(_, a)| a.as_str())
}

fn version(v: &str) -> (u32, u32, u32) {
    let mut parts = v
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or_else(|_| panic!("version {v}")));
    (
        parts.next().unwrap(),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

fn cargo_json(args: &[&str]) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}
