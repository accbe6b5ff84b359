//! Manifest text to typed objects: each document is checked against the kinds' schemas
//! before serde sees it, so every problem of a file is reported with its position.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::check::{Checker, Finding, Locations, join, nearest};
use super::diagnostic::{Diagnostic, Severity};
use super::yaml::{Node, Pos, Value, parse_documents};
use super::{
    API_VERSION, CAPACITY_PROVIDER_OUTPUT_ONLY, CLUSTER_OUTPUT_ONLY, EcsCapacityProvider,
    EcsCapacityProviderSpec, EcsCluster, EcsClusterSpec, EcsService, EcsServiceSpec,
    EcsTaskDefinition, EcsTaskDefinitionSpec, Kind, ObjectKey, SERVICE_OUTPUT_ONLY,
    TASK_DEFINITION_OUTPUT_ONLY,
};

pub const KINDS: &[&str] = &[
    "EcsCapacityProvider",
    "EcsCluster",
    "EcsTaskDefinition",
    "EcsService",
];

/// One of our objects, as read from a source.
#[derive(Clone, Debug)]
pub enum Object {
    CapacityProvider(Box<EcsCapacityProvider>),
    Cluster(EcsCluster),
    TaskDefinition(EcsTaskDefinition),
    Service(Box<EcsService>),
}

impl Object {
    pub fn kind(&self) -> &'static str {
        self.kind_of().as_str()
    }

    pub fn kind_of(&self) -> Kind {
        match self {
            Object::CapacityProvider(_) => Kind::EcsCapacityProvider,
            Object::Cluster(_) => Kind::EcsCluster,
            Object::TaskDefinition(_) => Kind::EcsTaskDefinition,
            Object::Service(_) => Kind::EcsService,
        }
    }

    /// The object's identity: kind, namespace (empty in Git mode) and name.
    pub fn key(&self) -> ObjectKey {
        let namespace = self.metadata().namespace.as_deref().unwrap_or_default();
        ObjectKey::new(self.kind_of(), namespace, self.name())
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::CapacityProvider(o) => &o.metadata,
            Object::Cluster(o) => &o.metadata,
            Object::TaskDefinition(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// `Kind/name`, as messages name objects.
    pub fn label(&self) -> String {
        self.key().to_string()
    }

    /// The account `spec.account` names, if any.
    pub fn account(&self) -> Option<&str> {
        match self {
            Object::CapacityProvider(o) => o.spec.account.as_deref(),
            Object::Cluster(o) => o.spec.account.as_deref(),
            Object::TaskDefinition(o) => o.spec.account.as_deref(),
            Object::Service(o) => o.spec.account.as_deref(),
        }
    }

    /// The account and region the object lives in; `default_region` where it names none.
    pub fn place(&self, default_region: &str) -> super::AccountRegion {
        super::AccountRegion::resolve(self.account(), self.region(), default_region)
    }

    /// The region `spec.region` names, if any.
    pub fn region(&self) -> Option<&str> {
        match self {
            Object::CapacityProvider(o) => o.spec.region.as_deref(),
            Object::Cluster(o) => o.spec.region.as_deref(),
            Object::TaskDefinition(o) => o.spec.region.as_deref(),
            Object::Service(o) => o.spec.region.as_deref(),
        }
    }
}

/// An object with where it came from.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub object: Object,
    pub file: String,
    /// Where the document starts.
    pub pos: Pos,
    /// Where each field path was written, for rules that run on the typed object.
    pub locations: Locations,
}

impl Manifest {
    /// A diagnostic about `field` of this object.
    pub fn diagnostic(&self, finding: Finding) -> Diagnostic {
        let pos = if finding.pos == Pos::default() {
            self.locations.find(&finding.field)
        } else {
            finding.pos
        };
        Diagnostic {
            severity: finding.severity,
            file: self.file.clone(),
            line: pos.line,
            column: pos.col,
            object: Some(self.object.label()),
            field: Some(finding.field).filter(|f| !f.is_empty()),
            message: finding.message,
        }
    }
}

/// What a file held: its objects, and the problems found while reading them. Objects with
/// errors are kept (without their invalid fields) for the rules; a revision is usable only
/// when `errors()` is zero.
#[derive(Debug, Default)]
pub struct Parsed {
    pub manifests: Vec<Manifest>,
    pub diagnostics: Vec<Diagnostic>,
    /// The source revision the manifests came from (a commit, a content hash).
    pub revision: String,
}

impl Parsed {
    pub fn extend(&mut self, other: Parsed) {
        self.manifests.extend(other.manifests);
        self.diagnostics.extend(other.diagnostics);
    }

    /// Runs ECS's rules on every object and across them, once all files are read; sorts the
    /// diagnostics by place.
    pub fn check_rules(&mut self) {
        let found = super::rules::check(&self.manifests);
        self.add(found);
    }

    /// Objects may name only the accounts (and their regions) the controller is configured
    /// for; `default_region` is the region of objects that name none, when known.
    pub fn check_accounts(&mut self, accounts: &super::Accounts, default_region: Option<&str>) {
        let found = accounts.check(&self.manifests, default_region);
        self.add(found);
    }

    /// Adds diagnostics, keeping them in order of place.
    fn add(&mut self, found: Vec<Diagnostic>) {
        self.diagnostics.extend(found);
        self.diagnostics
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// The `metadata` a manifest may carry.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)] // Read through its schema; the values land in `ObjectMeta`.
struct ManifestMetadata {
    /// The object's name: the ECS name (cluster, family, service) unless the spec sets one.
    name: String,
    namespace: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    /// Per-object switches of the controller.
    annotations: Option<BTreeMap<String, String>>,
}

fn schema_of<T: JsonSchema>() -> Json {
    serde_json::to_value(schemars::schema_for!(T)).expect("schemas are JSON")
}

static METADATA_SCHEMA: LazyLock<Json> = LazyLock::new(schema_of::<ManifestMetadata>);
static CAPACITY_PROVIDER_SCHEMA: LazyLock<Json> =
    LazyLock::new(schema_of::<EcsCapacityProviderSpec>);
static CLUSTER_SCHEMA: LazyLock<Json> = LazyLock::new(schema_of::<EcsClusterSpec>);
static TASK_DEFINITION_SCHEMA: LazyLock<Json> = LazyLock::new(schema_of::<EcsTaskDefinitionSpec>);
static SERVICE_SCHEMA: LazyLock<Json> = LazyLock::new(schema_of::<EcsServiceSpec>);

/// Reads every document of one file. Documents of another `apiVersion` are skipped. A
/// `.json` file must be JSON (YAML would take a trailing comma or a comment).
pub fn parse_file(file: &str, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    if file.ends_with(".json")
        && let Err(e) = serde_json::from_str::<Json>(text)
    {
        // serde_json says "… at line L column C"; the position goes in front instead.
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        parsed.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            line: e.line(),
            column: e.column(),
            object: None,
            field: None,
            message: format!("invalid JSON: {message}"),
        });
        return parsed;
    }
    match parse_documents(text) {
        Ok(docs) => {
            for doc in &docs {
                parse_document(file, doc, &mut parsed);
            }
        }
        Err(e) => parsed.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            line: e.pos.line,
            column: e.pos.col,
            object: None,
            field: None,
            message: format!("invalid YAML: {}", e.message),
        }),
    }
    parsed
}

fn parse_document(file: &str, doc: &Node, parsed: &mut Parsed) {
    let problem =
        |severity, pos: Pos, object: Option<String>, field: &str, message: String| Diagnostic {
            severity,
            file: file.to_string(),
            line: pos.line,
            column: pos.col,
            object,
            field: Some(field.to_string()).filter(|f| !f.is_empty()),
            message,
        };
    let entries = match &doc.value {
        Value::Null => return,
        Value::Map(entries) => entries,
        _ => {
            parsed.diagnostics.push(problem(
                Severity::Error,
                doc.pos,
                None,
                "",
                format!(
                    "expected a mapping with apiVersion, kind, metadata and spec, got a {}",
                    doc.type_name()
                ),
            ));
            return;
        }
    };
    let Some(kind) = document_kind(doc, &mut |severity, pos, field, message| {
        parsed
            .diagnostics
            .push(problem(severity, pos, None, field, message));
    }) else {
        return;
    };
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .unwrap_or("<unnamed>");
    let label = format!("{kind}/{name}");
    let mut checker = Checker::new(&METADATA_SCHEMA);
    let mut metadata = None;
    let mut spec = None;
    for (key, value) in entries {
        match key.name.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => metadata = checker.check(value, &METADATA_SCHEMA, "metadata"),
            "spec" => spec = Some((key, value)),
            "status" => checker.warning(
                "status",
                key.pos,
                "status is written by the controller; ignored",
            ),
            other => {
                let message = match nearest(other, &["apiVersion", "kind", "metadata", "spec"]) {
                    Some(near) => format!("unknown field \"{other}\", did you mean \"{near}\"?"),
                    None => format!(
                        "unknown field \"{other}\": a manifest has apiVersion, kind, metadata and spec"
                    ),
                };
                checker.error(other, key.pos, message);
            }
        }
    }
    if doc.get("metadata").is_none() {
        checker.error(
            "metadata",
            doc.pos,
            "missing required field \"metadata\" (with a name)",
        );
    }
    let mut locations = std::mem::take(&mut checker.locations);
    let mut findings = std::mem::take(&mut checker.findings);
    let object = match spec {
        None => {
            findings.push(Finding {
                severity: Severity::Error,
                field: "spec".into(),
                pos: doc.pos,
                message: "missing required field \"spec\"".into(),
            });
            None
        }
        Some((_, spec)) => {
            let (object, spec_findings, spec_locations) = parse_spec(kind, spec, metadata.as_ref());
            findings.extend(spec_findings);
            locations.merge(spec_locations);
            object
        }
    };
    parsed.diagnostics.extend(
        findings
            .into_iter()
            .map(|f| problem(f.severity, f.pos, Some(label.clone()), &f.field, f.message)),
    );
    // An object with schema errors is kept without its invalid fields, so that the rules
    // still run on the rest and every problem is reported in one pass.
    if let Some(object) = object {
        parsed.manifests.push(Manifest {
            object,
            file: file.to_string(),
            pos: doc.pos,
            locations,
        });
    }
}

/// The document's kind when it is one of ours; `None` (after reporting why) otherwise.
fn document_kind(
    doc: &Node,
    report: &mut dyn FnMut(Severity, Pos, &str, String),
) -> Option<&'static str> {
    let api_version = doc.get("apiVersion");
    match api_version.and_then(Node::as_str) {
        Some(API_VERSION) => {}
        Some(other) if other.starts_with("ecs-gitops.dev/") => {
            report(
                Severity::Error,
                api_version?.pos,
                "apiVersion",
                format!("unsupported apiVersion \"{other}\": this version reads {API_VERSION}"),
            );
            return None;
        }
        Some(other) => {
            tracing::debug!(
                api_version = other,
                line = doc.pos.line,
                "skipping a document of another apiVersion"
            );
            return None;
        }
        None => {
            report(
                Severity::Warning,
                doc.pos,
                "",
                format!(
                    "document without apiVersion skipped: ecs-gitops objects start with `apiVersion: {API_VERSION}`"
                ),
            );
            return None;
        }
    }
    let kind_node = doc.get("kind");
    let kind = kind_node.and_then(Node::as_str).unwrap_or_default();
    if let Some(known) = KINDS.iter().find(|k| **k == kind) {
        return Some(known);
    }
    let mut message = format!(
        "unknown kind \"{kind}\": expected one of {}",
        KINDS.join(", ")
    );
    if let Some(near) = nearest(kind, KINDS) {
        message.push_str(&format!("; did you mean \"{near}\"?"));
    }
    report(
        Severity::Error,
        kind_node.map_or(doc.pos, |k| k.pos),
        "kind",
        message,
    );
    None
}

/// Checks a spec and builds the typed object.
fn parse_spec(
    kind: &str,
    spec: &Node,
    metadata: Option<&Json>,
) -> (Option<Object>, Vec<Finding>, Locations) {
    let mut spec = spec.clone();
    let (schema, output_only): (&Json, &[&str]) = match kind {
        "EcsCapacityProvider" => (&CAPACITY_PROVIDER_SCHEMA, CAPACITY_PROVIDER_OUTPUT_ONLY),
        "EcsCluster" => (&CLUSTER_SCHEMA, CLUSTER_OUTPUT_ONLY),
        "EcsTaskDefinition" => (&TASK_DEFINITION_SCHEMA, TASK_DEFINITION_OUTPUT_ONLY),
        _ => (&SERVICE_SCHEMA, SERVICE_OUTPUT_ONLY),
    };
    let mut checker = Checker::new(schema);
    drop_output_only(&mut spec, output_only, "spec", &mut checker);
    if kind == "EcsService"
        && let Value::Map(entries) = &mut spec.value
        && let Some((_, inline)) = entries.iter_mut().find(|(k, _)| k.name == "taskDefinition")
    {
        drop_output_only(
            inline,
            TASK_DEFINITION_OUTPUT_ONLY,
            "spec.taskDefinition",
            &mut checker,
        );
    }
    let json = checker.check(&spec, schema, "spec");
    if !matches!(spec.value, Value::Map(_)) {
        checker.findings.retain(|f| f.field != "spec");
        checker.error(
            "spec",
            spec.pos,
            format!("expected a mapping, got {}", spec.type_name()),
        );
    }
    let mut findings = checker.findings;
    let locations = checker.locations;
    let has_errors = findings.iter().any(|f| f.severity == Severity::Error);
    let (Some(json), Some(metadata)) = (json, metadata) else {
        return (None, findings, locations);
    };
    let object = match build(kind, json, metadata) {
        Ok(object) => Some(object),
        // A required field was invalid or missing: already reported.
        Err(_) if has_errors => None,
        Err(e) => {
            // The schema check should have caught this; say so rather than lose it.
            findings.push(Finding {
                severity: Severity::Error,
                field: "spec".into(),
                pos: spec.pos,
                message: format!("cannot read spec: {e}"),
            });
            None
        }
    };
    (object, findings, locations)
}

/// Read-only fields pasted from describe output: warn and drop.
fn drop_output_only(node: &mut Node, names: &[&str], path: &str, checker: &mut Checker) {
    if let Value::Map(entries) = &mut node.value {
        entries.retain(|(key, _)| {
            let read_only = names.contains(&key.name.as_str());
            if read_only {
                checker.warning(
                    &join(path, &key.name),
                    key.pos,
                    format!("\"{}\" is read-only output of ECS; ignored", key.name),
                );
            }
            !read_only
        });
    }
}

fn build(kind: &str, spec: Json, metadata: &Json) -> Result<Object, serde_json::Error> {
    let metadata: ObjectMeta = serde_json::from_value(metadata.clone())?;
    fn typed<S: DeserializeOwned>(spec: Json) -> Result<S, serde_json::Error> {
        serde_json::from_value(spec)
    }
    Ok(match kind {
        "EcsCapacityProvider" => Object::CapacityProvider(Box::new(EcsCapacityProvider {
            metadata,
            spec: typed(spec)?,
            status: None,
        })),
        "EcsCluster" => Object::Cluster(EcsCluster {
            metadata,
            spec: typed(spec)?,
            status: None,
        }),
        "EcsTaskDefinition" => Object::TaskDefinition(EcsTaskDefinition {
            metadata,
            spec: typed(spec)?,
            status: None,
        }),
        _ => Object::Service(Box::new(EcsService {
            metadata,
            spec: typed(spec)?,
            status: None,
        })),
    })
}
