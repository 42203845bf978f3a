//! The nginx proxy in front of the instances: published port, WebSocket upgrades,
//! timeouts and what it writes to its access log.

use serde_yaml_ng::Value;

use crate::support::{compose, depends_on, docker_dir, env_of, read, scalar, service, INSTANCES};

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

/// Socket.IO's polling requests and the upgrade after them belong to one session on
/// one instance: both proxies send `/socket.io/` to an upstream hashed on the client,
/// listing every instance, with timeouts past Engine.IO's 25 s ping.
#[test]
fn both_proxies_keep_a_socketio_session_on_one_instance() {
    let c = compose();
    let mounted = nginx_conf_mounted_by(service(&c, "proxy"));
    let cluster = strip_comments(&read(&docker_dir().join("nginx.cluster.conf")));
    for (name, text, instances) in [
        ("nginx.conf", mounted, INSTANCES.len()),
        ("nginx.cluster.conf", cluster, 3),
    ] {
        let location = block_after(&text, "location /socket.io/")
            .unwrap_or_else(|| panic!("{name} has no `location /socket.io/`"));
        let directives = nginx_directives(&location);
        let upstream = directives
            .iter()
            .find_map(|d| d.strip_prefix("proxy_pass http://"))
            .unwrap_or_else(|| panic!("{name}: /socket.io/ is not proxied"));
        let read_timeout = directives
            .iter()
            .find_map(|d| d.strip_prefix("proxy_read_timeout ").map(seconds))
            .unwrap_or(60);
        assert!(
            read_timeout > 25,
            "{name}: /socket.io/ read timeout {read_timeout}s"
        );
        let block = block_after(&text, &format!("upstream {upstream} "))
            .unwrap_or_else(|| panic!("{name}: no upstream {upstream}"));
        let directives = nginx_directives(&block);
        assert!(
            directives
                .iter()
                .any(|d| d == "ip_hash" || d.starts_with("hash $remote_addr")),
            "{name}: upstream {upstream} is not sticky per client: {block}"
        );
        let servers = directives
            .iter()
            .filter(|d| d.starts_with("server "))
            .count();
        assert_eq!(
            servers, instances,
            "{name}: {upstream} lists every instance"
        );
    }
}

#[test]
fn neither_proxy_exposes_metrics() {
    let c = compose();
    let mounted = nginx_conf_mounted_by(service(&c, "proxy"));
    let cluster = read(&docker_dir().join("nginx.cluster.conf"));
    for (name, text) in [("nginx.conf", mounted), ("nginx.cluster.conf", cluster)] {
        let text = strip_comments(&text);
        let block = block_after(&text, "location = /metrics")
            .unwrap_or_else(|| panic!("{name} has no `location = /metrics`"));
        assert!(
            nginx_directives(&block).iter().any(|d| d == "return 404"),
            "{name}: /metrics is answered 404 at the proxy: {block}"
        );
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
