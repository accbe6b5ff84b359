//! The status page: where the source stands (commit, sweeps, drift, the API budget), then
//! every object with its health, and per object a detail view — the fields that differ,
//! the rollout as a timeline in ECS's words, the conditions, the spec hash and quarantine.
//!
//! Rendered whole on the server (filters and search work from the query string alone); a
//! small script filters as one types and refreshes the page in place every few seconds,
//! keeping what the reader opened. Nothing is fetched from elsewhere.

use std::fmt::Write;

use serde::Deserialize;

use crate::api::status::{Condition, KindStatus, condition};
use crate::controller::State;
use crate::controller::status::{ObjectStatus, Status, unix_now};
use crate::ecs::{BucketLevel, DeploymentSeen, ServiceHistory};

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Timeline entries shown per service: the newest.
const TIMELINE_SHOWN: usize = 30;

/// What the reader asked to see: `?show=not-ready&q=web`.
#[derive(Debug, Default, Deserialize)]
pub struct View {
    show: Option<String>,
    q: Option<String>,
}

/// The filters, as the query names them and the page labels them.
const FILTERS: &[(&str, &str)] = &[
    ("all", "All"),
    ("not-ready", "Not ready"),
    ("changing", "Changing"),
    ("blocked", "Blocked"),
];

impl View {
    fn filter(&self) -> &str {
        let asked = self.show.as_deref().unwrap_or("all");
        FILTERS
            .iter()
            .map(|(name, _)| *name)
            .find(|name| *name == asked)
            .unwrap_or("all")
    }

    fn search(&self) -> &str {
        self.q.as_deref().unwrap_or("").trim()
    }
}

/// How an object looks to a person now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    Ready,
    Changing,
    /// A rollout still running whose tasks fail.
    Failing,
    Failed,
    Quarantined,
    Blocked,
    Paused,
    Pending,
}

impl Health {
    fn word(self) -> &'static str {
        match self {
            Health::Ready => "ready",
            Health::Changing => "changing",
            Health::Failing => "failing",
            Health::Failed => "failed",
            Health::Quarantined => "quarantined",
            Health::Blocked => "blocked",
            Health::Paused => "paused",
            Health::Pending => "pending",
        }
    }

    /// Whether the filter named `filter` shows it.
    fn shown_by(self, filter: &str) -> bool {
        filter == "all" || self.groups().split(' ').any(|g| g == filter)
    }

    /// The filters it belongs to, besides `all`.
    fn groups(self) -> &'static str {
        match self {
            Health::Ready => "",
            Health::Changing | Health::Failing | Health::Pending => "not-ready changing",
            Health::Failed | Health::Paused => "not-ready",
            Health::Quarantined | Health::Blocked => "not-ready blocked",
        }
    }
}

/// One object with what the ECS client saw of its service.
struct Shown<'a> {
    key: &'a str,
    object: &'a ObjectStatus,
    history: Option<ServiceHistory>,
    health: Health,
}

fn condition_of<'a>(object: &'a ObjectStatus, type_: &str) -> Option<&'a Condition> {
    object
        .status
        .common()
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// The primary deployment is rolling and some of its tasks failed already.
fn failing(history: Option<&ServiceHistory>) -> bool {
    history
        .and_then(|h| h.deployments.iter().find(|d| d.status == "PRIMARY"))
        .is_some_and(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS") && d.failed_tasks > 0)
}

fn health(object: &ObjectStatus, history: Option<&ServiceHistory>) -> Health {
    let rolling =
        object.progress.is_some() || object.rollout().is_some_and(|r| r.state == "IN_PROGRESS");
    if rolling {
        return if failing(history) {
            Health::Failing
        } else {
            Health::Changing
        };
    }
    if condition_of(object, condition::READY).is_some() {
        return Health::Ready;
    }
    if let Some(stalled) = condition_of(object, condition::STALLED) {
        return match stalled.reason.as_str() {
            "Quarantined" => Health::Quarantined,
            "NotOwned" | "Blocked" => Health::Blocked,
            _ => Health::Failed,
        };
    }
    if let Some(reconciling) = condition_of(object, condition::RECONCILING) {
        return if reconciling.reason == "Blocked" {
            Health::Blocked
        } else {
            Health::Changing
        };
    }
    match object.status.common().conditions.first() {
        Some(c) if c.reason == "Suspended" => Health::Paused,
        _ => Health::Pending,
    }
}

fn shown<'a>(status: &'a Status, state: &State) -> Vec<Shown<'a>> {
    let history = |object: &ObjectStatus| match &object.status {
        KindStatus::Service(s) => s
            .service_arn
            .as_deref()
            .and_then(|arn| state.insight()?.history.service(arn)),
        _ => None,
    };
    status
        .objects
        .iter()
        .map(|(key, object)| {
            let history = history(object);
            Shown {
                key,
                object,
                health: health(object, history.as_ref()),
                history,
            }
        })
        .collect()
}

/// The page, for `view`.
pub fn render(state: &State, view: &View) -> String {
    let status = state.read();
    let objects = shown(&status, state);
    let not_ready = objects.iter().filter(|o| o.health != Health::Ready).count();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>ecs-gitops: {}</title>\
         <noscript><meta http-equiv=refresh content=5></noscript>\
         <style>{STYLE}</style></head><body>\
         <header class=top><h1>ecs-gitops</h1>{}</header>",
        if not_ready == 0 {
            "all ready".to_string()
        } else {
            format!("{not_ready} not ready")
        },
        filters(&objects, view),
    );
    page.push_str("<main id=main>");
    page.push_str(&overview(&status, state));
    page.push_str(&problems(&status));
    page.push_str(&object_list(&objects, view));
    let _ = write!(page, "</main><script>{SCRIPT}</script></body></html>");
    page
}

/// The filter radios (with counts) and the search box; a plain GET form, so they work
/// without the script.
fn filters(objects: &[Shown], view: &View) -> String {
    let mut radios = String::new();
    for (name, label) in FILTERS {
        let count = objects.iter().filter(|o| o.health.shown_by(name)).count();
        let checked = if view.filter() == *name {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            radios,
            "<label><input type=radio name=show value={name}{checked}> {label} \
             <span class=count id=count-{name}>{count}</span></label>",
        );
    }
    format!(
        "<form class=filters id=filters method=get role=search aria-label=\"Filter objects\">\
         <fieldset><legend>Show</legend>{radios}</fieldset>\
         <label class=search>Search <input type=search name=q id=q value=\"{}\" \
         placeholder=\"name, revision, error…\" autocomplete=off></label>\
         <button type=submit class=apply>Apply</button></form>",
        escape(view.search())
    )
}

/// Source, commit, sweeps, drift and the API budget.
fn overview(status: &Status, state: &State) -> String {
    let now = unix_now();
    let mut facts = String::new();
    fact(
        &mut facts,
        "Source",
        &format!("<code>{}</code>", escape(&status.source)),
    );
    if let Some(commit) = &status.commit {
        let standing = match status.last_applied_revision.as_deref() {
            Some(applied) if applied == commit.id => "<span class=\"tag good\">in force</span>",
            _ if !status.validation_errors.is_empty() => {
                "<span class=\"tag bad\">refused: invalid</span>"
            }
            _ => "<span class=\"tag\">not applied in full</span>",
        };
        let text = format!(
            "<code>{}</code> on <code>{}</code> {standing}<br><q>{}</q> by {}, {}",
            escape(&commit.id[..commit.id.len().min(12)]),
            escape(&commit.reference),
            escape(&commit.summary),
            escape(&commit.author),
            when(commit.time as f64, now)
        );
        fact(&mut facts, "Commit", &text);
    } else if let Some(revision) = &status.last_applied_revision {
        fact(
            &mut facts,
            "Revision",
            &format!("<code>{}</code>", escape(revision)),
        );
    }
    fact(
        &mut facts,
        "Owner",
        &format!("<code>{}</code>", escape(&status.owner)),
    );
    if let Some(last) = status.last_sweep {
        let next = match status.next_sweep {
            Some(next) => format!("next by {}", when(next, now)),
            None => "one is running now".to_string(),
        };
        let sweeps = format!("last ended {}; {next}", when(last, now));
        fact(&mut facts, "Sweeps", &sweeps);
    }
    fact(&mut facts, "Drift repaired, last 24 h", &drift(status, now));
    let budget = state
        .insight()
        .map(|insight| budget(&insight.budget.levels()))
        .unwrap_or_default();
    format!(
        "<section class=overview aria-label=Overview><dl class=facts>{facts}</dl>{budget}</section>"
    )
}

fn fact(out: &mut String, term: &str, description: &str) {
    let _ = write!(out, "<div><dt>{term}</dt><dd>{description}</dd></div>");
}

fn drift(status: &Status, now: f64) -> String {
    if status.drift_repaired.is_empty() {
        return "none".to_string();
    }
    let items: String = status
        .drift_repaired
        .iter()
        .rev()
        .map(|r| format!("<li>{} {}</li>", escape(&r.object), when(r.at, now)))
        .collect();
    format!(
        "<details class=drift><summary>{} repaired</summary><ul>{items}</ul></details>",
        status.drift_repaired.len()
    )
}

/// Each token bucket the client has drawn from: how much of its burst is spent.
fn budget(levels: &[BucketLevel]) -> String {
    if levels.is_empty() {
        return String::new();
    }
    let rows: String = levels
        .iter()
        .map(|l| {
            format!(
                "<tr><th scope=row>{} <span class=muted>{}</span></th>\
                 <td><meter min=0 max={} value={:.1} low={} high={}></meter></td>\
                 <td>{:.0} of {:.0}, refills {}/s</td></tr>",
                l.category,
                escape(&l.region),
                l.burst,
                l.in_use,
                l.burst * 0.5,
                l.burst * 0.8,
                l.in_use,
                l.burst,
                trim_number(l.rate)
            )
        })
        .collect();
    let busiest = &levels[0];
    format!(
        "<details class=budget><summary>API budget in use: busiest bucket {}% ({}, {})</summary>\
         <table><caption class=visually-hidden>ECS API token buckets</caption>\
         <thead><tr><th scope=col>Bucket</th><th scope=col>Spent</th><th scope=col>Tokens</th></tr></thead>\
         <tbody>{rows}</tbody></table></details>",
        (100.0 * busiest.in_use / busiest.burst).round(),
        busiest.category,
        escape(&busiest.region),
    )
}

fn trim_number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// Why the last attempt did not apply: an unreachable source, invalid manifests.
fn problems(status: &Status) -> String {
    if status.last_error.is_none() && status.validation_errors.is_empty() {
        return String::new();
    }
    let errors: String = status
        .validation_errors
        .iter()
        .map(|e| format!("<li><code>{}</code></li>", escape(e)))
        .collect();
    format!(
        "<section class=problem role=alert aria-label=\"Source problem\"><p>{}</p><ul>{errors}</ul></section>",
        escape(status.last_error.as_deref().unwrap_or_default())
    )
}

fn object_list(objects: &[Shown], view: &View) -> String {
    if objects.is_empty() {
        return "<section aria-labelledby=objects-h><h2 id=objects-h>Objects</h2>\
                <p>No objects yet: the first sweep has not finished.</p></section>"
            .to_string();
    }
    let items: String = objects.iter().map(|o| object_item(o, view)).collect();
    let visible = objects.iter().filter(|o| visible(o, view)).count();
    format!(
        "<section aria-labelledby=objects-h><h2 id=objects-h>Objects</h2>\
         <p id=shown-count aria-live=polite>Showing {visible} of {}</p>\
         <ul class=objects>{items}</ul></section>",
        objects.len()
    )
}

/// The words a search matches: the key, the revision and the reason.
fn search_text(object: &Shown) -> String {
    format!(
        "{} {} {}",
        object.key,
        revision(object).unwrap_or_default(),
        reason(object)
    )
    .to_lowercase()
}

/// The revision the service runs or rolls out now, else the status's.
fn revision<'a>(object: &'a Shown) -> Option<&'a str> {
    primary(object)
        .map(|d| d.task_definition.as_str())
        .or(object.object.task_definition())
}

fn visible(object: &Shown, view: &View) -> bool {
    object.health.shown_by(view.filter())
        && search_text(object).contains(&view.search().to_lowercase())
}

/// An element id from an object key.
fn anchor(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("object-{safe}")
}

fn object_item(object: &Shown, view: &View) -> String {
    let health = object.health;
    let hidden = if visible(object, view) { "" } else { " hidden" };
    // Problems open by themselves; what is fine stays folded.
    let open = if matches!(health, Health::Ready | Health::Changing) {
        ""
    } else {
        " open"
    };
    let revision = revision(object)
        .map(|t| format!("<span class=revision>{}</span>", escape(t)))
        .unwrap_or_default();
    let reason = reason(object);
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!("<span class=reason>{}</span>", escape(&shortened(&reason)))
    };
    format!(
        "<li class=object data-groups=\"{}\" data-search=\"{}\"{hidden}>\
         <details id={}{open}><summary>\
         <span class=\"health {}\">{}</span> <span class=name>{}</span> {revision} {}{reason}\
         </summary><div class=detail>{}</div></details></li>",
        health.groups(),
        escape(&search_text(object)),
        anchor(object.key),
        health.word(),
        health.word(),
        escape(object.key),
        rollout_summary(object),
        detail(object)
    )
}

/// The one line that says why an object is not ready: while tasks fail, ECS's newest word
/// about a failure; else the status's last error.
fn reason(object: &Shown) -> String {
    if object.health == Health::Failing
        && let Some(event) = object
            .history
            .as_ref()
            .and_then(|h| h.events.iter().find(|e| is_bad(&e.message)))
    {
        return format!("ECS: {}", event.message);
    }
    if let Some(task) = object
        .history
        .as_ref()
        .and_then(|h| h.stopped_tasks.first())
        .filter(|_| object.health == Health::Failing)
    {
        return format!("ECS: task {} stopped: {}", task.task, task.reason);
    }
    match (&object.object.progress, object.health) {
        (Some(progress), _) => progress.clone(),
        (None, Health::Ready) => String::new(),
        (None, _) => first_line(object.object.status.common().last_error.as_deref()),
    }
}

/// At most a couple of lines of it: the whole is in the conditions.
fn shortened(text: &str) -> String {
    const SHOWN: usize = 240;
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn first_line(text: Option<&str>) -> String {
    text.and_then(|t| t.lines().next())
        .unwrap_or_default()
        .to_string()
}

/// The service's primary deployment as ECS last showed it: fresher than the status, which
/// is written when a sweep ends.
fn primary<'a>(object: &'a Shown) -> Option<&'a DeploymentSeen> {
    object
        .history
        .as_ref()?
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
}

/// Counts and a bar for a service's rollout.
fn rollout_summary(object: &Shown) -> String {
    let (state, desired, running, failed) = match (primary(object), object.object.rollout()) {
        (Some(d), _) => (
            d.rollout_state.as_deref().unwrap_or("COMPLETED"),
            d.desired_count,
            d.running_count,
            d.failed_tasks,
        ),
        (None, Some(r)) => (
            r.state.as_str(),
            r.desired_count,
            r.running_count,
            r.failed_tasks,
        ),
        (None, None) => return String::new(),
    };
    let (desired, running) = (desired.max(0), running.max(0));
    let failed = if failed > 0 {
        format!(", {failed} failed")
    } else {
        String::new()
    };
    // A blue/green, linear or canary rollout's stage, as the last sweep saw it.
    let stage = object
        .object
        .rollout()
        .filter(|r| r.state == "IN_PROGRESS")
        .and_then(|r| {
            Some(format!(
                " {} {}",
                r.strategy.as_deref()?,
                r.lifecycle_stage.as_deref()?
            ))
        })
        .unwrap_or_default();
    format!(
        "<span class=rollout>{}{} {running}/{desired} running{failed} \
         <progress max={} value={running} aria-label=\"tasks running\"></progress></span>",
        escape(state),
        escape(&stage),
        desired.max(1),
    )
}

/// The fields, conditions and identity beside the rollout (services only).
fn detail(object: &Shown) -> String {
    let facts = format!(
        "{}{}{}",
        differences(object.object, object.health),
        conditions(object.object, object.health),
        identity(object.object)
    );
    let rollout = match object.object.status {
        KindStatus::Service(_) => timeline(object.history.as_ref()),
        _ => String::new(),
    };
    format!("<div class=column>{facts}</div><div class=column>{rollout}</div>")
}

/// The fields where ECS and the source differ, as the plan found them (values masked).
fn differences(object: &ObjectStatus, health: Health) -> String {
    let body = if object.changes.is_empty() {
        let said = if health == Health::Ready {
            "In sync: ECS matches the source."
        } else {
            "No field differs."
        };
        format!("<p>{said}</p>")
    } else {
        let rows: String = object
            .changes
            .iter()
            .map(|change| {
                // Serialized, a change carries its values masked.
                let masked = serde_json::to_value(change).unwrap_or_default();
                let side = |v: &serde_json::Value| match v {
                    serde_json::Value::Null => "<span class=muted>(unset)</span>".to_string(),
                    v => format!("<code>{}</code>", escape(&v.to_string())),
                };
                format!(
                    "<tr><th scope=row><code>{}</code></th><td>{}</td><td>{}</td></tr>",
                    // Long paths break after their dots and brackets, not inside names.
                    escape(&change.path)
                        .replace('.', ".<wbr>")
                        .replace('[', "<wbr>["),
                    side(&masked["old"]),
                    side(&masked["new"])
                )
            })
            .collect();
        format!(
            "<table class=diff><thead><tr><th scope=col>Field</th><th scope=col>Live in ECS</th>\
             <th scope=col>Desired</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    format!("<section><h3>Desired vs live</h3>{body}</section>")
}

/// Words in ECS's service events that say something went wrong (a task replaced in a
/// rollout is "stopped" too: that is no failure).
fn is_bad(message: &str) -> bool {
    ["failed", "rolling back", "unable", "error"]
        .iter()
        .any(|w| message.contains(w))
}

fn is_good(message: &str) -> bool {
    ["completed", "steady state"]
        .iter()
        .any(|w| message.contains(w))
}

/// How a timeline entry looks.
#[derive(Clone, Copy)]
enum Mark {
    Good,
    Bad,
    Info,
}

impl Mark {
    fn of_event(message: &str) -> Mark {
        if is_bad(message) {
            Mark::Bad
        } else if is_good(message) {
            Mark::Good
        } else {
            Mark::Info
        }
    }

    fn class(self) -> &'static str {
        match self {
            Mark::Good => "good",
            Mark::Bad => "bad",
            Mark::Info => "info",
        }
    }
}

/// The rollout in ECS's words: deployments created and ended, the service's events, the
/// stopped tasks looked at; newest first, as ECS's console lists them.
fn timeline(history: Option<&ServiceHistory>) -> String {
    let Some(history) = history else {
        return "<section><h3>Rollout</h3><p>No ECS activity seen yet.</p></section>".to_string();
    };
    let mut entries: Vec<(f64, Mark, String)> = Vec::new();
    for d in &history.deployments {
        if let Some(at) = d.created_at {
            let what = format!("deployment {} created: {}", d.id, d.task_definition);
            entries.push((at, Mark::Info, what));
        }
        // ECS says when a deployment completes in its events; a failure is said here too.
        if let (Some(at), Some("FAILED")) = (d.updated_at, d.rollout_state.as_deref()) {
            let why = d
                .rollout_state_reason
                .as_deref()
                .unwrap_or("no reason given");
            entries.push((at, Mark::Bad, format!("deployment {} FAILED: {why}", d.id)));
        }
    }
    for event in &history.events {
        let mark = Mark::of_event(&event.message);
        entries.push((event.at.unwrap_or(0.0), mark, event.message.clone()));
    }
    // Looked at because a rollout failed.
    for task in &history.stopped_tasks {
        let what = format!("task {} stopped: {}", task.task, task.reason);
        entries.push((task.stopped_at.unwrap_or(0.0), Mark::Bad, what));
    }
    entries.sort_by(|a, b| b.0.total_cmp(&a.0));
    let items: String = entries
        .iter()
        .take(TIMELINE_SHOWN)
        .map(|(at, mark, message)| {
            format!(
                "<li class={}>{} <span>{}</span></li>",
                mark.class(),
                clock(*at),
                escape(message)
            )
        })
        .collect();
    format!(
        "<section><h3>Rollout</h3>{}<ol class=timeline>{items}</ol></section>",
        deployments(history)
    )
}

/// The deployments now, primary first: revision, state and task counts.
fn deployments(history: &ServiceHistory) -> String {
    let rows: String = history
        .deployments
        .iter()
        .map(|d| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}/{} running, {} pending, {} failed</td></tr>",
                escape(&d.id),
                escape(&d.status),
                escape(&d.task_definition),
                escape(d.rollout_state.as_deref().unwrap_or("-")),
                d.running_count,
                d.desired_count,
                d.pending_count,
                d.failed_tasks
            )
        })
        .collect();
    format!(
        "<table class=deployments><thead><tr><th scope=col>Deployment</th><th scope=col>Status</th>\
         <th scope=col>Revision</th><th scope=col>Rollout</th><th scope=col>Tasks</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    )
}

fn conditions(object: &ObjectStatus, health: Health) -> String {
    let common = object.status.common();
    if common.conditions.is_empty() {
        return String::new();
    }
    // The conditions are written when a sweep ends; a rollout may have moved on since.
    let note = if matches!(health, Health::Changing | Health::Failing) {
        "<p class=muted>As the last sweep ended; a change is under way since.</p>"
    } else {
        ""
    };
    let now = unix_now();
    let rows: String = common
        .conditions
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let since = c
                .last_transition_time
                .as_deref()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map(|t| when(t.as_millisecond() as f64 / 1000.0, now))
                .unwrap_or_default();
            // The conditions of one decision share its message: it is said once.
            let repeated = common.conditions[..i].iter().any(|p| p.message == c.message);
            let message = if repeated {
                "<span class=muted>(as above)</span>".to_string()
            } else {
                escape(&c.message)
            };
            format!(
                "<tr><th scope=row>{}</th><td>{}</td><td>{}</td><td class=message>{message}</td><td>{since}</td></tr>",
                escape(&c.type_),
                escape(&c.status),
                escape(&c.reason),
            )
        })
        .collect();
    format!(
        "<section><h3>Conditions</h3>{note}<table class=conditions><thead><tr><th scope=col>Type</th>\
         <th scope=col>Status</th><th scope=col>Reason</th><th scope=col>Message</th>\
         <th scope=col>Since</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
}

/// ARNs, hashes, quarantine and revisions.
fn identity(object: &ObjectStatus) -> String {
    let mut facts = String::new();
    let mut code = |term: &str, value: Option<&str>| {
        if let Some(value) = value {
            fact(&mut facts, term, &format!("<code>{}</code>", escape(value)));
        }
    };
    match &object.status {
        KindStatus::Service(s) => {
            code("Spec hash", s.spec_hash.as_deref());
            code("Service", s.service_arn.as_deref());
            code("Task definition", s.task_definition_arn.as_deref());
        }
        KindStatus::TaskDefinition(s) => {
            code("Spec hash", s.spec_hash.as_deref());
            code("Task definition", s.task_definition_arn.as_deref());
        }
        KindStatus::Cluster(s) => {
            code("Cluster", s.cluster_arn.as_deref());
            code("Cluster status", s.cluster_status.as_deref());
        }
        KindStatus::CapacityProvider(s) => {
            code("Capacity provider", s.capacity_provider_arn.as_deref());
            code("Status", s.capacity_provider_status.as_deref());
            code("Update status", s.update_status.as_deref());
        }
    }
    let common = object.status.common();
    let place = match (&common.account, &common.region) {
        (Some(account), Some(region)) => Some(format!("{region} of account {account}")),
        (None, Some(region)) => Some(region.clone()),
        _ => None,
    };
    code("Region", place.as_deref());
    code("Applied revision", common.last_applied_revision.as_deref());
    code(
        "Attempted revision",
        common.last_attempted_revision.as_deref(),
    );
    if let KindStatus::Service(s) = &object.status {
        for task in &s.pre_deploy {
            fact(
                &mut facts,
                &format!("Pre-deploy task {}", task.name),
                &escape(&task.describe()),
            );
        }
    }
    if let KindStatus::Service(s) = &object.status
        && let Some(hash) = &s.quarantined_spec_hash
    {
        fact(
            &mut facts,
            "Quarantined",
            &format!(
                "<code>{}</code>: its rollout failed; not applied again until the manifest changes",
                escape(hash)
            ),
        );
    }
    format!("<section><h3>Identity</h3><dl class=facts>{facts}</dl></section>")
}

/// A time as a `<time>` element: the UTC clock time, and how long ago (or until).
fn when(at: f64, now: f64) -> String {
    let delta = now - at;
    let relative = match delta.abs() {
        d if d < 1.0 => "now".to_string(),
        d => {
            let span = span(d);
            if delta > 0.0 {
                format!("{span} ago")
            } else {
                format!("in {span}")
            }
        }
    };
    format!("{} ({relative})", clock(at))
}

fn span(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d", s / 86400),
    }
}

/// `<time datetime="…Z">12:04:05</time>`, UTC.
fn clock(at: f64) -> String {
    let Ok(time) = k8s_openapi::jiff::Timestamp::from_millisecond((at * 1000.0) as i64) else {
        return String::new();
    };
    format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        time.strftime("%Y-%m-%d %H:%M:%S UTC"),
        time.strftime("%H:%M:%S")
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of a CSS custom property in the first block that sets it after `from`.
    fn colour(from: &str, name: &str) -> (f64, f64, f64) {
        let at = from
            .find(&format!("--{name}: #"))
            .unwrap_or_else(|| panic!("--{name} is not set"));
        let hex = &from[at + name.len() + 5..at + name.len() + 11];
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
        (channel(0), channel(2), channel(4))
    }

    /// WCAG 2's contrast ratio.
    fn contrast(a: (f64, f64, f64), b: (f64, f64, f64)) -> f64 {
        let linear = |c: f64| {
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let luminance = |(r, g, b): (f64, f64, f64)| {
            0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
        };
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    #[test]
    fn text_and_badges_meet_wcag_aa_contrast_in_both_schemes() {
        let white = (1.0, 1.0, 1.0);
        let dark = &STYLE[STYLE.find("prefers-color-scheme: dark").unwrap()..];
        let mut pairs = Vec::new();
        for badge in ["good", "busy", "bad", "held", "still"] {
            pairs.push((format!("white on --{badge}"), white, colour(STYLE, badge)));
        }
        for (scheme, css) in [("light", STYLE), ("dark", dark)] {
            for (text, ground) in [
                ("text", "page"),
                ("muted", "page"),
                ("muted", "band"),
                ("text", "band"),
            ] {
                pairs.push((
                    format!("{scheme}: --{text} on --{ground}"),
                    colour(css, text),
                    colour(css, ground),
                ));
            }
        }
        pairs.push((
            "--bad on --bad-soft".into(),
            colour(STYLE, "bad"),
            colour(STYLE, "bad-soft"),
        ));
        pairs.push((
            "--good on --good-soft".into(),
            colour(STYLE, "good"),
            colour(STYLE, "good-soft"),
        ));
        for (what, text, ground) in pairs {
            let ratio = contrast(text, ground);
            assert!(
                ratio >= 4.5,
                "{what}: {ratio:.2}:1 is under WCAG AA's 4.5:1"
            );
        }
    }

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(4.4), "4 s");
        assert_eq!(span(150.0), "2 min");
        assert_eq!(span(3.0 * 3600.0 + 120.0), "3 h 2 min");
        assert_eq!(when(100.0, 160.0), format!("{} (1 min ago)", clock(100.0)));
        assert_eq!(when(160.0, 100.0), format!("{} (in 1 min)", clock(160.0)));
    }
}
