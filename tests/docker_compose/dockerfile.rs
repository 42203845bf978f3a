//! docker/Dockerfile: what the runtime image contains and how it starts, plus the
//! instruction parser the build-input checks share.

use crate::support::{docker_dir, read};

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
        instructions(stage, "RUN").collect::<Vec<_>>().join("\n")
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

pub(crate) fn dockerfile_text() -> String {
    read(&docker_dir().join("Dockerfile"))
}

/// (INSTRUCTION, arguments) per stage, continuation lines joined, comments dropped.
pub(crate) fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let text = dockerfile_text();
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

pub(crate) fn instructions<'a>(
    stage: &'a [(String, String)],
    keyword: &'a str,
) -> impl Iterator<Item = &'a str> {
    stage
        .iter()
        .filter(move |(k, _)| k == keyword)
        .map(|(_, a)| a.as_str())
}
