//! What the Dockerfile's builder stage is given: every workspace member through the
//! dockerignore allow-list, and a toolchain the locked dependencies accept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use crate::dockerfile::{dockerfile_stages, dockerfile_text, instructions};
use crate::support::{docker_dir, read, repo_root};

#[test]
fn dockerfile_copies_every_workspace_member_from_an_allowed_context() {
    let text = dockerfile_text();
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
    let text = dockerfile_text();
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
