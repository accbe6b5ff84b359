//! The controller's HTTP side: `/metrics`, `/healthz`, `/readyz`, `/api/status`, the webhook
//! (`POST /hook`) and the status page (`/`, in `page.rs`); and the server that runs them with
//! limits, so that slow or idle clients cannot hold the controller's connections.

mod page;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::controller::State;

/// GitHub caps webhook payloads at 25 MB: a larger body is refused unread.
pub const HOOK_BODY_LIMIT: usize = 25 * 1024 * 1024;
/// How long a webhook's body may take to arrive.
const HOOK_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Who may trigger a fetch through `POST /hook`.
#[derive(Clone, Debug, Default)]
pub struct HookAuth {
    /// GitHub's webhook secret: `X-Hub-Signature-256: sha256=HMAC(secret, body)`.
    pub secret: Option<String>,
    /// Or `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
}

/// The webhook: who may call it, and what it wakes.
#[derive(Clone)]
pub struct Hook {
    pub auth: HookAuth,
    pub trigger: mpsc::Sender<()>,
}

#[derive(Clone)]
struct Web {
    state: Arc<State>,
}

/// The status endpoints, and `POST /hook` when `hook` is given (else it has a listener of
/// its own: `hook_router`).
pub fn router(state: Arc<State>, hook: Option<Hook>) -> Router {
    let status = Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthy))
        .route("/readyz", get(ready))
        .route("/api/status", get(status))
        .with_state(Web { state });
    match hook {
        Some(hook) => status.merge(hook_router(hook)),
        None => status,
    }
}

/// `POST /hook` alone, for a listener the Git host can reach.
pub fn hook_router(hook: Hook) -> Router {
    Router::new()
        .route("/hook", post(trigger_fetch))
        .with_state(hook)
}

/// Limits of a listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a client may take to send a request's headers; also how long a kept-alive
    /// connection may sit idle before its next request.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

/// A listener that could not be opened: its address, the flag that chose it, and what to
/// do about it.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({flag}): {}", why_not(.source, .addr, .flag))]
pub struct ListenError {
    pub addr: SocketAddr,
    pub flag: &'static str,
    #[source]
    pub source: std::io::Error,
}

fn why_not(error: &std::io::Error, addr: &SocketAddr, flag: &str) -> String {
    let mut other = *addr;
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            other.set_port(addr.port().checked_add(1).unwrap_or(8080));
            format!(
                "the address is already in use by another process\n  stop that process, or choose another address: {flag} {other}"
            )
        }
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine\n  use one of its own: {flag} 127.0.0.1:{} (this machine only) or {flag} 0.0.0.0:{} (every interface)",
            addr.ip(),
            addr.port(),
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => {
            other.set_port(8080);
            format!(
                "permission denied (ports below 1024 need privileges)\n  choose a port above 1023: {flag} {other}"
            )
        }
        _ => error.to_string(),
    }
}

/// A listener on `addr`, which `flag` chose.
pub async fn bind(
    addr: SocketAddr,
    flag: &'static str,
) -> Result<tokio::net::TcpListener, ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, flag, source })
}

/// Serves `app` on `listener` (HTTP/1.1, hyper) within `limits` until `shutdown` turns true;
/// requests in flight then get a second to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = async {
                let permit = connections.clone().acquire_owned().await;
                (permit, listener.accept().await)
            } => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (Ok(permit), accepted) = accepted else {
            break;
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: let some connections end first.
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
}

async fn metrics(Extract(web): Extract<Web>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        web.state.metrics.encode(),
    )
        .into_response()
}

/// Alive while sweeps keep finishing: a loop stuck on a call is restarted by its supervisor.
async fn healthy(Extract(web): Extract<Web>) -> Response {
    match web.state.liveness() {
        Ok(()) => (StatusCode::OK, "ok".to_string()).into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

async fn ready(Extract(web): Extract<Web>) -> Response {
    if web.state.read().ready {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not synced yet").into_response()
    }
}

async fn status(Extract(web): Extract<Web>) -> axum::Json<crate::controller::status::Status> {
    axum::Json(web.state.read())
}

async fn status_page(Extract(web): Extract<Web>, Query(view): Query<page::View>) -> Html<String> {
    Html(page::render(&web.state, &view))
}

/// Equal without telling, by timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(auth: &HookAuth, headers: &HeaderMap, body: &[u8]) -> bool {
    if let (Some(secret), Some(signature)) = (
        &auth.secret,
        headers
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok()),
    ) {
        let Some(hex) = signature.strip_prefix("sha256=") else {
            return false;
        };
        let Some(expected) = decode_hex(hex) else {
            return false;
        };
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(body);
        return mac.verify_slice(&expected).is_ok();
    }
    if let (Some(token), Some(given)) = (
        &auth.token,
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    ) {
        return given
            .strip_prefix("Bearer ")
            .is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()));
    }
    false
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    text.len().is_multiple_of(2).then_some(())?;
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

async fn trigger_fetch(Extract(hook): Extract<Hook>, headers: HeaderMap, body: Body) -> Response {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > HOOK_BODY_LIMIT) {
        return (StatusCode::PAYLOAD_TOO_LARGE, "larger than GitHub's 25 MB").into_response();
    }
    let body = match tokio::time::timeout(
        HOOK_BODY_TIMEOUT,
        axum::body::to_bytes(body, HOOK_BODY_LIMIT),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return (
                StatusCode::BAD_REQUEST,
                "cannot read the body (at most 25 MB)",
            )
                .into_response();
        }
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "the body was too slow").into_response(),
    };
    if !authorized(&hook.auth, &headers, &body) {
        tracing::warn!("webhook refused: no valid signature or token");
        return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
    }
    // A full channel means a fetch is already due: hooks that arrive meanwhile coalesce.
    let _ = hook.trigger.try_send(());
    (StatusCode::ACCEPTED, "fetch triggered").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signatures_and_bearer_tokens() {
        let auth = HookAuth {
            secret: Some("It's a Secret to Everybody".into()),
            token: Some("t0ken".into()),
        };
        // GitHub's documented example.
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
                .parse()
                .unwrap(),
        );
        assert!(authorized(&auth, &headers, b"Hello, World!"));
        assert!(!authorized(&auth, &headers, b"Hello, World?"));
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer t0ken".parse().unwrap());
        assert!(authorized(&auth, &bearer, b""));
        bearer.insert(header::AUTHORIZATION, "Bearer t0kem".parse().unwrap());
        assert!(!authorized(&auth, &bearer, b""));
        assert!(!authorized(&auth, &HeaderMap::new(), b""));
    }
}
