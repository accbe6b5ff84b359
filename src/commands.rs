//! `diff` and `apply`: load, validate, observe, plan, and (for apply) execute and report.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::api::{Accounts, Diagnostic, ObjectKey, Parsed};
use crate::cli::{EcsArgs, Output, colour};
use crate::diff::observed::Owner;
use crate::diff::plan::{Desired, Plan, Prune, Verdict};
use crate::ecs::{EcsConfig, EcsError, SdkEcs};
use crate::reconcile::{Options, Outcome, ReconcileError, Reconciler, Step};
use crate::sim::{SimConfig, Simulator};
use crate::source::files;

/// What stops `diff` or `apply` before they can report per object.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("writing the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}

/// Why there is no ECS client.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("starting the embedded ECS simulator: {0}")]
    Simulator(#[source] std::io::Error),
    #[error(transparent)]
    Accounts(#[from] AccountsError),
}

/// An accounts file (`--accounts`) that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("reading the accounts file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the accounts file is invalid:\n{}", lines(.0))]
    Invalid(Vec<Diagnostic>),
}

fn lines(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(|d| format!("  {d}")).collect();
    lines.join("\n")
}

/// The accounts objects may name: those of `path`, or none.
pub fn read_accounts(path: Option<&Path>) -> Result<Accounts, AccountsError> {
    let Some(path) = path else {
        return Ok(Accounts::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| AccountsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Accounts::parse(&path.display().to_string(), &text).map_err(AccountsError::Invalid)
}

/// The ECS client the flags ask for (with the accounts of `--accounts`), and the embedded
/// simulator behind it with `--local`.
pub async fn connect(args: &EcsArgs) -> Result<(SdkEcs, Option<Simulator>), ConnectError> {
    let mut config = EcsConfig {
        endpoint_url: args.endpoint_url.clone(),
        region: args.region.clone(),
        budget_scale: args.api_budget_scale,
        anonymous: false,
        call_timeout: args.call_timeout,
        accounts: read_accounts(args.accounts.as_deref())?,
    };
    let simulator = if args.local {
        let sim = Simulator::start(SimConfig {
            speed: args.local_speed,
            ..SimConfig::default()
        })
        .await
        .map_err(ConnectError::Simulator)?;
        config.endpoint_url = Some(sim.endpoint());
        config.anonymous = true;
        config.budget_scale = args.local_speed;
        Some(sim)
    } else {
        None
    };
    Ok((SdkEcs::new(config).await, simulator))
}

/// Loads and validates; prints the problems and returns `None` when the revision is
/// unusable. Before any connection: a file's mistake is the first thing said.
pub(crate) fn load(paths: &[PathBuf], max_file_size: u64) -> Option<Parsed> {
    let parsed = files::load(paths, max_file_size);
    for diagnostic in &parsed.diagnostics {
        eprintln!("{diagnostic}");
    }
    if parsed.errors() > 0 {
        eprintln!("invalid manifests: nothing was compared or changed");
        return None;
    }
    if parsed.manifests.is_empty() {
        eprintln!("error: no ecs-gitops.dev objects found");
        return None;
    }
    Some(parsed)
}

/// Checks the objects' accounts and regions against the client's accounts and default
/// region; prints what is wrong and says whether the revision is still usable.
pub(crate) fn accounts_ok(parsed: &mut Parsed, ecs: &SdkEcs) -> bool {
    let known = parsed.diagnostics.len();
    parsed.check_accounts(ecs.accounts(), Some(ecs.default_region()));
    for diagnostic in &parsed.diagnostics[known..] {
        eprintln!("{diagnostic}");
    }
    let usable = parsed.errors() == 0;
    if !usable {
        eprintln!("invalid manifests: nothing was compared or changed");
    }
    usable
}

/// Progress while apply runs: a line per object that updates in place on a terminal, a
/// line per change otherwise.
struct LiveProgress {
    bars: Option<(MultiProgress, Mutex<BTreeMap<ObjectKey, ProgressBar>>)>,
}

impl LiveProgress {
    fn new() -> LiveProgress {
        let terminal = colour(std::io::stdout().is_terminal());
        LiveProgress {
            bars: terminal.then(|| (MultiProgress::new(), Mutex::new(BTreeMap::new()))),
        }
    }

    fn show(&self, object: &ObjectKey, step: Step) {
        let line = step.line();
        let Some((multi, bars)) = &self.bars else {
            println!("  {object}: {line}");
            return;
        };
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        let bar = bars.entry(object.clone()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner} {prefix}: {wide_msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(object.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        bar.set_message(line.to_string());
        if step.ended() {
            bar.finish();
        }
    }

    fn finish(&self) {
        if let Some((_, bars)) = &self.bars {
            for bar in bars.lock().unwrap_or_else(|p| p.into_inner()).values() {
                if !bar.is_finished() {
                    bar.finish();
                }
            }
        }
    }
}

struct Paint(bool);

impl Paint {
    fn new() -> Paint {
        Paint(colour(std::io::stdout().is_terminal()))
    }

    fn color(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn print_plan(plan: &Plan) {
    let paint = Paint::new();
    for object in &plan.objects {
        let line = match &object.verdict {
            Verdict::InSync => paint.color("2", &format!("= {}: in sync", object.object)),
            Verdict::Create => paint.color("32", &format!("+ {}: create", object.object)),
            Verdict::Update { fields } => paint.color("33", &format!("~ {}: update {}", object.object, fields.join(", "))),
            Verdict::Delete => paint.color("31", &format!("- {}: delete", object.object)),
            Verdict::Blocked { reason, .. } => paint.color("31", &format!("! {}: not changed: {reason}", object.object)),
            Verdict::Quarantined { hash } => paint.color(
                "35",
                &format!("! {}: quarantined: spec {hash} failed to roll out; change the manifest to try again", object.object),
            ),
        };
        println!("{line}");
        for change in &object.changes {
            println!("    {}", change.describe());
        }
        for task in plan.pre_deploy(&object.object) {
            println!(
                "    {}",
                paint.color("36", &format!("pre-deploy task {task}"))
            );
        }
    }
}

/// What `diff` and `apply` start from: the revision, the reconciler (and the simulator
/// behind it with `--local`), and the plan. `Err` holds the exit code of a failure already
/// reported.
struct Planned {
    parsed: Parsed,
    reconciler: Reconciler<SdkEcs>,
    plan: Plan,
    _simulator: Option<Simulator>,
}

/// The owner `--owner` names, else the paths' absolute form.
pub(crate) fn owner_of(args: &EcsArgs, paths: &[PathBuf]) -> Owner {
    if let Some(name) = &args.owner {
        return Owner::new(name);
    }
    let absolute: Vec<String> = paths
        .iter()
        .map(|p| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    Owner::new(&absolute.join(","))
}

async fn prepare(
    paths: &[PathBuf],
    args: &EcsArgs,
    prune: Prune,
    max_file_size: u64,
) -> Result<Result<Planned, ExitCode>, CommandError> {
    let Some(mut parsed) = load(paths, max_file_size) else {
        return Ok(Err(ExitCode::from(2)));
    };
    let (ecs, simulator) = connect(args).await?;
    if !accounts_ok(&mut parsed, &ecs) {
        return Ok(Err(ExitCode::from(2)));
    }
    let owner = owner_of(args, paths);
    let desired = Desired::from_manifests(&parsed.manifests, ecs.default_region(), owner.clone());
    let reconciler = Reconciler::new(ecs);
    let plan = match reconciler.plan(&desired, prune).await {
        Ok((_, plan)) => plan,
        Err(e) => {
            eprintln!("error: {}", observe_failure(&e));
            return Ok(Err(ExitCode::from(2)));
        }
    };
    eprintln!("owner: {owner} (--owner to change)");
    Ok(Ok(Planned {
        parsed,
        reconciler,
        plan,
        _simulator: simulator,
    }))
}

/// Why ECS could not be observed. When ECS is out of reach altogether (credentials, the
/// endpoint, permissions) that alone is said: which object was being observed is beside it.
pub fn observe_failure(error: &ReconcileError) -> String {
    match error {
        ReconcileError::Observe {
            source: EcsError::Access(access),
            ..
        } => access.to_string(),
        other => other.to_string(),
    }
}

pub async fn diff(
    paths: &[PathBuf],
    args: &EcsArgs,
    prune: Prune,
    output: Output,
    max_file_size: u64,
) -> Result<ExitCode, CommandError> {
    let plan = match prepare(paths, args, prune, max_file_size).await? {
        Ok(planned) => planned.plan,
        Err(code) => return Ok(code),
    };
    match output {
        Output::Json => {
            let objects = plan
                .objects
                .iter()
                .map(|o| {
                    let mut object = serde_json::to_value(o)?;
                    let tasks = plan.pre_deploy(&o.object);
                    if !tasks.is_empty() {
                        object["preDeploy"] = serde_json::json!(tasks);
                    }
                    Ok(object)
                })
                .collect::<Result<Vec<_>, serde_json::Error>>()?;
            let report = serde_json::json!({"inSync": plan.in_sync(), "objects": objects});
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Output::Text => print_plan(&plan),
    }
    Ok(ExitCode::from(if plan.in_sync() { 0 } else { 1 }))
}

pub async fn apply(
    paths: &[PathBuf],
    args: &EcsArgs,
    options: Options,
    max_file_size: u64,
) -> Result<ExitCode, CommandError> {
    let Planned {
        parsed,
        reconciler,
        plan,
        _simulator,
    } = match prepare(paths, args, options.prune, max_file_size).await? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    print_plan(&plan);
    let options = Options {
        source_revision: parsed.revision.clone(),
        ..options
    };
    let live = LiveProgress::new();
    let progress = |object: &ObjectKey, step: Step| live.show(object, step);
    let report = reconciler.execute(&plan, &options, &progress).await;
    live.finish();
    let blocked = plan
        .objects
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Blocked { .. }))
        .count();
    println!();
    let paint = Paint::new();
    let width = plan
        .objects
        .iter()
        .map(|o| o.object.to_string().len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!("{:width$}  {:9}  DETAIL", "OBJECT", "RESULT");
    for object in &plan.objects {
        let (result, detail) = match (report.results.get(&object.object), &object.verdict) {
            (Some(Outcome::Done { message }), _) => {
                (paint.color("32", "ok       "), message.clone())
            }
            (Some(Outcome::Failed { message }), _) => {
                (paint.color("31", "failed   "), message.clone())
            }
            (Some(Outcome::Progressing { message }), _) => {
                ("pending  ".to_string(), message.clone())
            }
            (None, Verdict::InSync) => ("unchanged".to_string(), String::new()),
            (None, Verdict::Blocked { reason, .. }) => {
                (paint.color("31", "blocked  "), reason.clone())
            }
            (None, Verdict::Quarantined { hash }) => (
                paint.color("35", "skipped  "),
                format!("spec {hash} is quarantined"),
            ),
            (None, _) => (
                "pending  ".to_string(),
                "not followed (--no-wait)".to_string(),
            ),
        };
        println!("{:width$}  {result}  {detail}", object.object.to_string());
    }
    let failed = report.failed() + blocked;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
