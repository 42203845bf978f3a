//! Locating and reading docker/, and the Compose-file accessors every check shares.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

pub(crate) const INSTANCES: [&str; 2] = ["webchat-1", "webchat-2"];

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn docker_dir() -> PathBuf {
    repo_root().join("docker")
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The compose file with its `<<: *anchor` merges applied, as Compose applies them.
pub(crate) fn compose() -> Value {
    compose_file("docker-compose.yml")
}

/// `docker/<name>`, merges applied.
pub(crate) fn compose_file(name: &str) -> Value {
    let text = read(&docker_dir().join(name));
    let mut value: Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name} parses: {e}"));
    value.apply_merge().expect("merge keys resolve");
    value
}

pub(crate) fn service<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["services"]
        .get(name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

pub(crate) fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// `environment:` in either of its Compose forms (mapping, or list of `KEY=value`).
pub(crate) fn env_of(svc: &Value) -> BTreeMap<String, String> {
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
pub(crate) fn depends_on(svc: &Value) -> BTreeMap<String, String> {
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
pub(crate) fn healthcheck_test(svc: &Value) -> Vec<String> {
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
