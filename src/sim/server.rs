//! The HTTP side: the ECS endpoint (and STS's AssumeRole on the same URL, told apart by the
//! service the request is signed for) and the `/_sim/` control endpoints.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value as Json, json};
use tokio::task::JoinHandle;

use super::clock::Clock;
use super::control::{Fault, Faults, Stats};
use super::error::ApiError;
use super::ops::{self, Ctx};
use super::rollout;
use super::state::{DEFAULT_ACCOUNT, World};
use super::sts::{self, Roles};
use super::throttle::Throttle;

const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
const DEFAULT_REGION: &str = "us-east-1";
/// How often simulated time moves tasks and deployments on.
const TICK: Duration = Duration::from_millis(20);

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub listen: SocketAddr,
    /// How much faster than wall time the simulation runs; scales the throttling buckets too.
    pub speed: f64,
    /// ECS's request throttling, on by default.
    pub throttle: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            speed: 1.0,
            throttle: true,
        }
    }
}

struct Shared {
    world: Mutex<World>,
    roles: Mutex<Roles>,
    clock: Clock,
    throttle: Mutex<Throttle>,
    stats: Mutex<Stats>,
    faults: Mutex<Faults>,
}

/// A lock that survives a panic elsewhere: the simulator answers errors, never hangs.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running simulator; it stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    server: JoinHandle<()>,
    ticker: JoinHandle<()>,
}

impl Simulator {
    /// Starts the simulator on `config.listen` (port 0: a free one).
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let shared = Arc::new(Shared {
            world: Mutex::new(World::default()),
            roles: Mutex::new(Roles::new()),
            clock: Clock::new(config.speed),
            throttle: Mutex::new(Throttle::new(config.throttle, config.speed)),
            stats: Mutex::new(Stats::default()),
            faults: Mutex::new(Faults::default()),
        });
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/", post(endpoint))
            .route("/_sim/reset", post(reset))
            .route("/_sim/roles", post(add_role))
            .route("/_sim/stats", get(stats).delete(clear_stats))
            .route(
                "/_sim/faults",
                get(faults).post(add_fault).delete(clear_faults),
            )
            .route("/_sim/state", get(state))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            loop {
                interval.tick().await;
                let now = shared.clock.now();
                let mut world = lock(&shared.world);
                let World { regions, ids } = &mut *world;
                for region in regions.values_mut() {
                    rollout::tick(region, ids, now);
                }
            }
        });
        tracing::info!(%addr, speed = config.speed, throttle = config.throttle, "ECS simulator listening");
        Ok(Simulator {
            addr,
            server,
            ticker,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL for an ECS client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs until the server stops (for `ecs-gitops sim`).
    pub async fn wait(mut self) {
        let _ = (&mut self.server).await;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
        self.ticker.abort();
    }
}

/// Part `index` of the SigV4 credential scope, `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn scope(headers: &HeaderMap, index: usize) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split(['/', ',']).nth(index))
        .filter(|part| !part.is_empty())
}

fn region_of(headers: &HeaderMap) -> String {
    scope(headers, 2).unwrap_or(DEFAULT_REGION).to_string()
}

/// The account a request works in: told by the access key id it is signed with.
fn account_of(headers: &HeaderMap) -> String {
    scope(headers, 0)
        .map_or(DEFAULT_ACCOUNT, sts::account_of)
        .to_string()
}

/// ECS, or STS when the request is signed for it.
async fn endpoint(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let headers = request.headers().clone();
    if scope(&headers, 3) == Some("sts") {
        let form = axum::Form::<HashMap<String, String>>::from_request(request, &()).await;
        return match form {
            Ok(axum::Form(form)) => assume_role(&shared, &headers, &form),
            Err(rejection) => rejection.into_response(),
        };
    }
    match Bytes::from_request(request, &()).await {
        Ok(body) => ecs(shared, headers, body).await,
        Err(rejection) => rejection.into_response(),
    }
}

fn assume_role(shared: &Shared, headers: &HeaderMap, form: &HashMap<String, String>) -> Response {
    let result = {
        let roles = lock(&shared.roles);
        sts::call(form, &roles, &mut lock(&shared.world).ids)
    };
    let outcome = result.as_ref().map_or_else(|e| e.code, |_| "ok");
    lock(&shared.stats).record(&account_of(headers), "AssumeRole", outcome);
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => (
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
            error.body(),
        ),
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

fn aws_response(status: u16, body: String, error: Option<&str>) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert(
        "x-amzn-requestid",
        HeaderValue::from_static("00000000-0000-0000-0000-000000000000"),
    );
    if let Some(code) = error.and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert("x-amzn-errortype", code);
    }
    response
}

async fn ecs(shared: Arc<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = target.strip_prefix(TARGET_PREFIX).map(str::to_string) else {
        let error = ApiError::other(
            "UnknownOperationException",
            format!("Unknown operation target {target:?}."),
        );
        return aws_response(error.status, error.body(), Some(error.code));
    };
    let region = region_of(&headers);
    let account = account_of(&headers);
    let fault = lock(&shared.faults).apply(&account, &operation);
    if fault.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
    }
    let result = match fault.error {
        Some(error) => Err(error),
        None if !lock(&shared.throttle).admit(&account, &region, &operation) => {
            Err(ApiError::throttling())
        }
        None => handle(&shared, (&account, &region), &operation, &body),
    };
    // The outcome the client saw (an ambiguous failure counts as its error, not as ok).
    let outcome = match (&result, &fault.error_after) {
        (Ok(_), _) if fault.drop_after => "dropped",
        (Ok(_), Some(e)) | (Err(e), _) => e.code,
        (Ok(_), None) => "ok",
    };
    lock(&shared.stats).record(&account, &operation, outcome);
    match (result, fault.error_after) {
        (Ok(_), _) if fault.drop_after => hang_up(),
        (Ok(_), Some(error)) | (Err(error), _) => {
            aws_response(error.status, error.body(), Some(error.code))
        }
        (Ok(body), None) => aws_response(200, body, None),
    }
}

/// A response that breaks off after its head: the client never gets an answer, as when a
/// connection drops after ECS did the work.
fn hang_up() -> Response {
    let broken = futures::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection drop",
        ))
    });
    let mut response = axum::body::Body::from_stream(broken).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}

fn handle(
    shared: &Shared,
    (account, region): (&str, &str),
    operation: &str,
    body: &[u8],
) -> Result<String, ApiError> {
    let request: Json = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::serialization(format!("Malformed request body: {e}")))?
    };
    if !request.is_object() {
        return Err(ApiError::serialization(
            "The request body must be a JSON object.",
        ));
    }
    let now = shared.clock.now();
    let mut world = lock(&shared.world);
    let (region, ids) = world.region(account, region);
    let mut ctx = Ctx { region, ids, now };
    // A bug in one operation answers a ServerException instead of dropping the connection.
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        ops::call(operation, &mut ctx, &request)
    }))
    .unwrap_or_else(|_| Err(ApiError::server("Internal error in the simulator.")))
}

async fn reset(State(shared): State<Arc<Shared>>) -> axum::Json<Json> {
    *lock(&shared.world) = World::default();
    lock(&shared.roles).clear();
    *lock(&shared.stats) = Stats::default();
    *lock(&shared.faults) = Faults::default();
    lock(&shared.throttle).reset();
    axum::Json(json!({"reset": true}))
}

/// `?account=ID`: what a control endpoint reads is one account's.
#[derive(serde::Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

/// Every account's calls added up, or `?account=ID`'s.
async fn stats(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<AccountQuery>,
) -> axum::Json<Json> {
    let calls = lock(&shared.stats).calls(query.account.as_deref());
    axum::Json(json!({"calls": calls}))
}

async fn clear_stats(State(shared): State<Arc<Shared>>) -> axum::Json<Json> {
    *lock(&shared.stats) = Stats::default();
    axum::Json(json!({"cleared": true}))
}

async fn faults(State(shared): State<Arc<Shared>>) -> axum::Json<Json> {
    axum::Json(json!({"faults": lock(&shared.faults).rules}))
}

async fn add_fault(
    State(shared): State<Arc<Shared>>,
    axum::Json(fault): axum::Json<Fault>,
) -> axum::Json<Json> {
    let mut faults = lock(&shared.faults);
    faults.rules.push(fault);
    axum::Json(json!({"faults": faults.rules}))
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> axum::Json<Json> {
    lock(&shared.faults).rules.clear();
    axum::Json(json!({"faults": []}))
}

/// A role that needs an external id: `{"roleArn": "…", "externalId": "…"}`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RoleConfig {
    role_arn: String,
    external_id: String,
}

async fn add_role(
    State(shared): State<Arc<Shared>>,
    axum::Json(role): axum::Json<RoleConfig>,
) -> axum::Json<Json> {
    let mut roles = lock(&shared.roles);
    roles.insert(role.role_arn, role.external_id);
    axum::Json(json!({"roles": roles.keys().collect::<Vec<_>>()}))
}

/// A summary of one account (the default, or `?account=ID`), for tests and debugging.
async fn state(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<AccountQuery>,
) -> axum::Json<Json> {
    let account = query.account.as_deref().unwrap_or(DEFAULT_ACCOUNT);
    let world = lock(&shared.world);
    let regions: serde_json::Map<String, Json> = world
        .regions
        .iter()
        .filter(|((id, _), _)| id == account)
        .map(|((_, name), region)| {
            let services: Vec<Json> = region
                .services
                .values()
                .map(|s| {
                    let (running, pending) = s.counts(&region.tasks, None);
                    json!({
                        "serviceArn": s.arn,
                        "status": s.status,
                        "taskDefinition": s.task_definition,
                        "desiredCount": s.desired_count,
                        "runningCount": running,
                        "pendingCount": pending,
                        "deployments": s.deployments.iter().map(|d| json!({
                            "id": d.id, "status": d.status, "taskDefinition": d.task_definition,
                            "rolloutState": d.rollout_state, "failedTasks": d.failed_tasks,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let families: serde_json::Map<String, Json> = region
                .families
                .iter()
                .map(|(family, revisions)| (family.clone(), json!(revisions.len())))
                .collect();
            (
                name.clone(),
                json!({
                    "clusters": region.clusters.keys().collect::<Vec<_>>(),
                    "taskDefinitionRevisions": families,
                    "services": services,
                    "tasks": region.tasks.len(),
                }),
            )
        })
        .collect();
    axum::Json(json!({"account": account, "regions": regions, "now": shared.clock.now()}))
}
