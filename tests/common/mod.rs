#![allow(dead_code)] // Each test crate uses part of these helpers.

//! Helpers shared by the integration tests.

pub mod k8s;

use std::path::PathBuf;

/// `../shared` (or `$ECS_GITOPS_SHARED`): the ECS model and the real-world corpus. Outside CI
/// a checkout without it skips the tests that need it, loudly; in CI its absence fails.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ECS_GITOPS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("reference").is_dir() && dir.join("realworld").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: CI must have shared/ beside the checkout",
        dir.display()
    );
    eprintln!(
        "!!! SKIPPED: {} not found: set ECS_GITOPS_SHARED to check against it",
        dir.display()
    );
    None
}

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};

/// The stock `aws-sdk-ecs` client for an endpoint and region; retries off unless asked.
pub fn ecs_client(endpoint: &str, region: &str, retries: bool) -> aws_sdk_ecs::Client {
    let retry = if retries {
        RetryConfig::standard()
    } else {
        RetryConfig::disabled()
    };
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "not-a-secret",
            None,
            None,
            "tests",
        ))
        .retry_config(retry)
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

/// A plain HTTP/1.1 request (for the simulator's `/_sim/` endpoints and raw wire checks).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub async fn sim_json(addr: SocketAddr, method: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, body) = http(
        addr,
        method,
        path,
        &[("Content-Type", "application/json")],
        body,
    )
    .await;
    assert_eq!(status, 200, "{method} {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Calls of `operation` with `outcome` (`ok` or an error code) since the last reset.
pub async fn sim_calls(addr: SocketAddr, operation: &str, outcome: &str) -> u64 {
    let stats = sim_json(addr, "GET", "/_sim/stats", "").await;
    stats["calls"][operation][outcome].as_u64().unwrap_or(0)
}

/// The venv the test command installs moto and boto3 into.
pub fn venv_bin(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".venv-moto/bin")
        .join(tool);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: the test command (scripts/test) installs it",
        path.display()
    );
    eprintln!(
        "!!! SKIPPED: {} not found; run scripts/test once to install moto and boto3",
        path.display()
    );
    None
}

/// moto's server on a free loopback port, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Option<Moto> {
        let server = venv_bin("moto_server")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A service created behind the controller's back, as someone else would: no ownership tag.
pub async fn create_unowned_service(ecs: &aws_sdk_ecs::Client, cluster: &str, name: &str) {
    let td = ecs
        .register_task_definition()
        .family(name)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("l")
                .image("legacy:1")
                .memory(64)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let td = td
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    ecs.create_service()
        .cluster(cluster)
        .service_name(name)
        .task_definition(&td)
        .desired_count(1)
        .send()
        .await
        .unwrap();
}

/// A port nothing listens on now, on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port` (a process just started), at most 30 s.
pub async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// `ecs-gitops sim` as its own process on a free loopback port, killed when dropped.
pub async fn sim_process(speed: &str) -> (tokio::process::Child, SocketAddr) {
    let port = free_port();
    let sim = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
        .args([
            "sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--speed",
            speed,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_port(port).await;
    (sim, SocketAddr::from(([127, 0, 0, 1], port)))
}
