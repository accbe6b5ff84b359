//! How fast and how small the simulator is: DescribeServices calls per second on loopback with
//! 1,000 services (throttling off), and the memory 10,000 services take.
//!
//! `cargo bench --bench sim` prints the figures; nothing here asserts on them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ecs_gitops::sim::{SimConfig, Simulator};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TARGET: &str = "AmazonEC2ContainerServiceV20141113";

/// A keep-alive connection speaking just enough HTTP/1.1 for the ECS JSON protocol.
struct Connection {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Connection {
            stream: BufReader::new(stream),
            addr,
        }
    }

    async fn call(&mut self, operation: &str, body: &str) -> (u16, String) {
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: {TARGET}.{operation}\r\n\
             Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).await.unwrap();
        let status = status_line[9..12].parse().unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.unwrap();
        (status, String::from_utf8(body).unwrap())
    }
}

async fn populate(addr: SocketAddr, services: usize) {
    let mut conn = Connection::open(addr).await;
    conn.call("CreateCluster", r#"{"clusterName":"bench"}"#)
        .await;
    let td = r#"{"family":"app","containerDefinitions":[{"name":"app","image":"nginx:1","memory":128}]}"#;
    assert_eq!(conn.call("RegisterTaskDefinition", td).await.0, 200);
    for i in 0..services {
        let body = format!(
            r#"{{"cluster":"bench","serviceName":"svc-{i:05}","taskDefinition":"app:1","desiredCount":1}}"#
        );
        assert_eq!(conn.call("CreateService", &body).await.0, 200);
    }
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn describe_throughput(services: usize, connections: usize, seconds: u64) -> f64 {
    let sim = Simulator::start(SimConfig {
        throttle: false,
        speed: 100.0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    populate(sim.addr(), services).await;
    // Let every deployment finish, so the figure is the steady state a controller sweeps.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for worker in 0..connections {
        let addr = sim.addr();
        workers.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await;
            let mut calls = 0u64;
            let mut batch = worker * 10;
            while Instant::now() < deadline {
                let names: Vec<String> = (0..10)
                    .map(|i| format!("\"svc-{:05}\"", (batch + i) % services))
                    .collect();
                let body = format!(r#"{{"cluster":"bench","services":[{}]}}"#, names.join(","));
                let (status, response) = conn.call("DescribeServices", &body).await;
                assert_eq!(status, 200, "{response}");
                calls += 1;
                batch = (batch + 10 * connections) % services;
            }
            calls
        }));
    }
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap();
    }
    total as f64 / seconds as f64
}

async fn memory_for(services: usize) -> f64 {
    let before = rss_mib();
    let sim = Simulator::start(SimConfig {
        throttle: false,
        speed: 100.0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    populate(sim.addr(), services).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = rss_mib();
    drop(sim);
    after - before
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "ecs-gitops simulator bench ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let memory = memory_for(10_000).await;
    println!(
        "memory: 10,000 services (1 task each, steady): +{memory:.1} MiB RSS (target < 200 MiB)"
    );
    for connections in [1, 4, 8] {
        let rate = describe_throughput(1_000, connections, 5).await;
        println!(
            "DescribeServices (10 services per call), 1,000 services, {connections} connection(s): {rate:.0} calls/s (target ≥ 5,000; client and simulator share the cores)"
        );
    }
}
