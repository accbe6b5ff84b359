//! The controller's HTTP server over real sockets: slow and idle clients are cut off, the
//! number of connections is capped, and webhooks take what GitHub sends (25 MB) and no more.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use ecs_gitops::controller::State;
use ecs_gitops::web::{HOOK_BODY_LIMIT, Hook, HookAuth, Limits, router, serve};

const SECRET: &str = "hook-secret";

/// A server with `limits`; the receiver sees the hooks that got through.
async fn server(limits: Limits) -> (SocketAddr, mpsc::Receiver<()>, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, triggers) = mpsc::channel(1);
    let hook = Hook {
        auth: HookAuth {
            secret: Some(SECRET.into()),
            token: None,
        },
        trigger,
    };
    let app = router(
        Arc::new(State::new(
            "test".into(),
            "test-owner".into(),
            std::time::Duration::from_secs(3600),
        )),
        Some(hook),
    );
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(serve(listener, app, limits, shutdown));
    (addr, triggers, stop)
}

/// Reads until the server closes the connection; what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .unwrap_or_default();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (addr, _, _stop) = server(Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    read_to_close(&mut slow).await;
    // A connection that sends nothing at all is cut off too.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    read_to_close(&mut silent).await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let (addr, _, _stop) = server(Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let (addr, _, _stop) = server(Limits {
        header_read_timeout: Duration::from_secs(60),
        max_connections: 2,
    })
    .await;
    let first = TcpStream::connect(addr).await.unwrap();
    let _second = TcpStream::connect(addr).await.unwrap();
    let third = tokio::spawn(common::http(addr, "GET", "/healthz", &[], ""));
    // Two idle connections hold both places: the third is not served...
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "served past the connection cap");
    // ...until one of them goes.
    drop(first);
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), third)
        .await
        .expect("served once a place is free")
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
}

fn signature(body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[tokio::test]
async fn webhooks_up_to_githubs_25_mb_are_taken_and_larger_ones_refused() {
    let (addr, mut triggers, _stop) = server(Limits::default()).await;
    // A push with many commits: 20 MB, signed.
    let body = format!("{{\"commits\": \"{}\"}}", "x".repeat(20 * 1024 * 1024));
    let (status, answer) = common::http(
        addr,
        "POST",
        "/hook",
        &[("X-Hub-Signature-256", &signature(body.as_bytes()))],
        &body,
    )
    .await;
    assert_eq!((status, answer.as_str()), (202, "fetch triggered"));
    assert_eq!(triggers.try_recv(), Ok(()));
    // Over the limit: refused on its Content-Length, unread.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                HOOK_BODY_LIMIT + 1
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 413");
    assert!(triggers.try_recv().is_err(), "nothing was triggered");
}
