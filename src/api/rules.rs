//! ECS's own rules, checked before ECS would reject a deployment: what a user would otherwise
//! learn from a failed `RegisterTaskDefinition` or `CreateService`, minutes later.

use std::collections::{BTreeMap, BTreeSet};

use super::check::{Finding, nearest};
use super::diagnostic::{Diagnostic, Severity};
use super::manifest::{Manifest, Object};
use super::secret::looks_secret;
use super::units::{
    FARGATE_CPU_SIZES, cpu_units, describe_sizes, fargate_memory_options, memory_mib,
};
use super::yaml::Pos;
use super::{
    CapacityProviderInput, Compatibility, ContainerCondition, ContainerDefinition, EcsServiceSpec,
    LaunchType, NetworkMode, ServiceTaskDefinition, TaskDefinitionInput,
};

/// Findings of one object, by field path; their positions come from the manifest.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, field.into(), message.into());
    }

    fn warning(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, field.into(), message.into());
    }

    fn push(&mut self, severity: Severity, field: String, message: String) {
        self.0.push(Finding {
            severity,
            field,
            pos: Pos::default(),
            message,
        });
    }
}

/// Every rule, on every object and across them.
pub fn check(manifests: &[Manifest]) -> Vec<Diagnostic> {
    let task_definitions: BTreeMap<&str, &TaskDefinitionInput> = manifests
        .iter()
        .filter_map(|m| match &m.object {
            Object::TaskDefinition(td) => Some((m.object.name(), &td.spec.task_definition)),
            _ => None,
        })
        .collect();
    let mut diagnostics = Vec::new();
    for manifest in manifests {
        let mut findings = Findings::default();
        match &manifest.object {
            Object::CapacityProvider(provider) => {
                capacity_provider(
                    &mut findings,
                    &provider.spec.capacity_provider,
                    manifest.object.name(),
                );
            }
            Object::Cluster(cluster) => {
                if let Some(name) = &cluster.spec.cluster.cluster_name {
                    ecs_name(&mut findings, "spec.clusterName", name);
                }
            }
            Object::TaskDefinition(td) => {
                let spec = &td.spec.task_definition;
                ecs_name(
                    &mut findings,
                    "spec.family",
                    family(spec, manifest.object.name()),
                );
                task_definition(&mut findings, "spec", spec, Launch::of_task(spec));
            }
            Object::Service(service) => {
                service_rules(
                    &mut findings,
                    &service.spec,
                    manifest.object.name(),
                    &task_definitions,
                );
            }
        }
        diagnostics.extend(findings.0.into_iter().map(|f| manifest.diagnostic(f)));
    }
    diagnostics.extend(cross_object(manifests));
    diagnostics
}

pub fn family<'a>(td: &'a TaskDefinitionInput, object_name: &'a str) -> &'a str {
    td.family.as_deref().unwrap_or(object_name)
}

/// ECS names (clusters, families, services): up to 255 letters, digits, `-` and `_`.
fn ecs_name(findings: &mut Findings, field: &str, name: &str) {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        findings.error(
            field,
            format!("\"{name}\" is not a valid ECS name: use up to 255 letters, digits, hyphens and underscores"),
        );
    }
}

/// Where a task definition's tasks will run, as far as the manifests tell.
#[derive(Clone, Copy, Default)]
struct Launch {
    fargate: bool,
    /// EC2 or external instances were asked for explicitly.
    instances: bool,
    /// No requiresCompatibilities: ECS registers the task definition as EC2-compatible.
    ec2_by_default: bool,
}

impl Launch {
    fn of_task(td: &TaskDefinitionInput) -> Launch {
        let compat = td.requires_compatibilities.as_deref().unwrap_or_default();
        Launch {
            fargate: compat.contains(&Compatibility::Fargate),
            instances: compat.contains(&Compatibility::Ec2)
                || compat.contains(&Compatibility::External),
            ec2_by_default: compat.is_empty(),
        }
    }

    fn with_service(self, service: &EcsServiceSpec) -> Launch {
        let providers = service
            .service
            .capacity_provider_strategy
            .as_deref()
            .unwrap_or_default();
        let fargate_provider = providers
            .iter()
            .any(|p| p.capacity_provider == "FARGATE" || p.capacity_provider == "FARGATE_SPOT");
        Launch {
            fargate: self.fargate
                || service.service.launch_type == Some(LaunchType::Fargate)
                || fargate_provider,
            instances: self.instances || service.service.launch_type == Some(LaunchType::Ec2),
            ec2_by_default: self.ec2_by_default,
        }
    }
}

fn task_definition(findings: &mut Findings, at: &str, td: &TaskDefinitionInput, launch: Launch) {
    let containers = &td.container_definitions;
    if containers.is_empty() {
        findings.error(
            format!("{at}.containerDefinitions"),
            "a task definition needs at least one container",
        );
        return;
    }
    let names = container_names(findings, at, containers);
    if containers.iter().all(|c| c.essential == Some(false)) {
        findings.error(
            format!("{at}.containerDefinitions"),
            "at least one container must be essential (every container has essential: false)",
        );
    }
    let volumes: BTreeSet<&str> = td
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.name.as_deref())
        .collect();
    for (i, container) in containers.iter().enumerate() {
        let path = format!("{at}.containerDefinitions[{i}]");
        references(findings, &path, container, &names, containers, &volumes);
        ports(findings, &path, container, td.network_mode);
        container_memory(findings, &path, container, td.memory.is_some(), launch);
        image(findings, &path, container);
        secret_looking_environment(findings, &path, container);
    }
    if let Some(proxy) = &td.proxy_configuration
        && !names.contains(proxy.container_name.as_str())
    {
        findings.error(
            format!("{at}.proxyConfiguration.containerName"),
            unknown_container(&proxy.container_name, &names),
        );
    }
    task_size(findings, at, td, launch);
    task_definition_size(findings, at, td);
}

/// Container names: present, unique; returns the set.
fn container_names<'a>(
    findings: &mut Findings,
    at: &str,
    containers: &'a [ContainerDefinition],
) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    for (i, container) in containers.iter().enumerate() {
        let path = format!("{at}.containerDefinitions[{i}]");
        match container.name.as_deref() {
            None => findings.error(format!("{path}.name"), "missing required field \"name\""),
            Some(name) if !names.insert(name) => findings.error(
                format!("{path}.name"),
                format!("duplicate container name \"{name}\""),
            ),
            Some(_) => {}
        }
        if container.image.is_none() {
            findings.error(format!("{path}.image"), "missing required field \"image\"");
        }
    }
    names
}

fn unknown_container(name: &str, names: &BTreeSet<&str>) -> String {
    let candidates: Vec<&str> = names.iter().copied().collect();
    let mut message = format!(
        "no container named \"{name}\" in this task definition (containers: {})",
        candidates.join(", ")
    );
    if let Some(near) = nearest(name, &candidates) {
        message.push_str(&format!("; did you mean \"{near}\"?"));
    }
    message
}

/// Names a container gives to other containers and volumes must exist.
fn references(
    findings: &mut Findings,
    path: &str,
    container: &ContainerDefinition,
    names: &BTreeSet<&str>,
    containers: &[ContainerDefinition],
    volumes: &BTreeSet<&str>,
) {
    for (j, dependency) in container.depends_on.iter().flatten().enumerate() {
        let field = format!("{path}.dependsOn[{j}].containerName");
        let target = dependency.container_name.as_str();
        if !names.contains(target) {
            findings.error(field, unknown_container(target, names));
        } else if dependency.condition == ContainerCondition::Healthy
            && containers
                .iter()
                .any(|c| c.name.as_deref() == Some(target) && c.health_check.is_none())
        {
            findings.error(
                format!("{path}.dependsOn[{j}].condition"),
                format!("condition HEALTHY needs a healthCheck on container \"{target}\", which has none"),
            );
        }
    }
    for (j, link) in container.links.iter().flatten().enumerate() {
        let target = link.split(':').next().unwrap_or(link);
        if !names.contains(target) {
            findings.error(
                format!("{path}.links[{j}]"),
                unknown_container(target, names),
            );
        }
    }
    for (j, from) in container.volumes_from.iter().flatten().enumerate() {
        if let Some(source) = from.source_container.as_deref()
            && !names.contains(source)
        {
            findings.error(
                format!("{path}.volumesFrom[{j}].sourceContainer"),
                unknown_container(source, names),
            );
        }
    }
    for (j, mount) in container.mount_points.iter().flatten().enumerate() {
        if let Some(volume) = mount.source_volume.as_deref()
            && !volumes.contains(volume)
        {
            let defined: Vec<&str> = volumes.iter().copied().collect();
            let mut message = format!(
                "no volume named \"{volume}\" in this task definition's volumes (volumes: {})",
                if defined.is_empty() {
                    "none".to_string()
                } else {
                    defined.join(", ")
                }
            );
            if let Some(near) = nearest(volume, &defined) {
                message.push_str(&format!("; did you mean \"{near}\"?"));
            }
            findings.error(format!("{path}.mountPoints[{j}].sourceVolume"), message);
        }
    }
}

/// Port mappings per network mode, as ECS checks them.
fn ports(
    findings: &mut Findings,
    path: &str,
    container: &ContainerDefinition,
    mode: Option<NetworkMode>,
) {
    let mappings = container.port_mappings.as_deref().unwrap_or_default();
    if mode == Some(NetworkMode::None) && !mappings.is_empty() {
        findings.error(
            format!("{path}.portMappings"),
            "networkMode none gives containers no network: remove the portMappings or change networkMode",
        );
        return;
    }
    for (j, mapping) in mappings.iter().enumerate() {
        let field = format!("{path}.portMappings[{j}]");
        for (name, port, lowest) in [
            ("containerPort", mapping.container_port, 1),
            ("hostPort", mapping.host_port, 0),
        ] {
            if let Some(port) = port
                && !(lowest..=65535).contains(&port)
            {
                findings.error(
                    format!("{field}.{name}"),
                    format!("{port} is not a port: use {lowest}–65535"),
                );
            }
        }
        if mapping.container_port.is_none() && mapping.container_port_range.is_none() {
            findings.error(
                format!("{field}.containerPort"),
                "a port mapping needs containerPort (or containerPortRange)",
            );
        }
        let same_port = matches!(mode, Some(NetworkMode::Awsvpc | NetworkMode::Host));
        if let (true, Some(host), Some(port)) =
            (same_port, mapping.host_port, mapping.container_port)
            && host != port
        {
            let mode = mode.map_or("", NetworkMode::as_str);
            findings.error(
                format!("{field}.hostPort"),
                format!("under networkMode {mode}, hostPort must be left out or equal containerPort ({port}), got {host}"),
            );
        }
    }
}

/// Container memory: ECS's minimum, reservation under the limit, and a limit where the task
/// has none on instances.
fn container_memory(
    findings: &mut Findings,
    path: &str,
    container: &ContainerDefinition,
    task_memory: bool,
    launch: Launch,
) {
    const MIN_MIB: i32 = 6;
    for (field, value) in [
        ("memory", container.memory),
        ("memoryReservation", container.memory_reservation),
    ] {
        if let Some(mib) = value
            && mib < MIN_MIB
        {
            findings.error(
                format!("{path}.{field}"),
                format!("{mib} MiB is below ECS's minimum of {MIN_MIB} MiB for a container"),
            );
        }
    }
    if let (Some(limit), Some(reservation)) = (container.memory, container.memory_reservation)
        && reservation > limit
    {
        findings.error(
            format!("{path}.memoryReservation"),
            format!("memoryReservation ({reservation} MiB) must not exceed memory ({limit} MiB)"),
        );
    }
    if (launch.instances || launch.ec2_by_default)
        && !task_memory
        && container.memory.is_none()
        && container.memory_reservation.is_none()
    {
        let name = container.name.as_deref().unwrap_or_default();
        let why = if launch.instances {
            "on EC2 or external instances"
        } else {
            "without requiresCompatibilities the task definition is EC2-compatible:"
        };
        findings.error(
            format!("{path}.memory"),
            format!("{why} set memory or memoryReservation on container \"{name}\", or memory on the task (ECS refuses to register it otherwise)"),
        );
    }
    if let Some(cpu) = container.cpu
        && cpu < 0
    {
        findings.error(
            format!("{path}.cpu"),
            format!("{cpu} is not a CPU share: use 0 or more CPU units (1024 is one vCPU)"),
        );
    }
}

/// ECS's image reference: up to 255 letters, digits, `-`, `_`, `:`, `.`, `/`, `#` and `@`.
fn image(findings: &mut Findings, path: &str, container: &ContainerDefinition) {
    let Some(image) = container.image.as_deref() else {
        return;
    };
    let valid = !image.is_empty()
        && image.len() <= 255
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:./#@".contains(c));
    if !valid {
        findings.error(
            format!("{path}.image"),
            format!("{image:?} is not an image ECS accepts: up to 255 letters, digits, hyphens, underscores, colons, periods, slashes, number signs and @"),
        );
    }
}

/// The length of `value` as compact JSON, counted without building it.
fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(0, |()| count.0)
}

/// ECS's limit on a registered task definition's JSON.
pub const TASK_DEFINITION_MAX_BYTES: usize = 64 * 1024;

/// The task definition as RegisterTaskDefinition would carry it must fit ECS's limit.
fn task_definition_size(findings: &mut Findings, at: &str, td: &TaskDefinitionInput) {
    let total = json_len(td);
    if total <= TASK_DEFINITION_MAX_BYTES {
        return;
    }
    let (largest, size) = td
        .container_definitions
        .iter()
        .enumerate()
        .map(|(i, c)| (i, json_len(c)))
        .max_by_key(|(_, size)| *size)
        .unwrap_or_default();
    findings.error(
        at.to_string(),
        format!("the task definition is {total} bytes of JSON, over ECS's limit of {TASK_DEFINITION_MAX_BYTES} (64 KiB); containerDefinitions[{largest}] alone is {size} bytes"),
    );
}

/// Plain environment values are readable by anyone who may describe the task definition.
fn secret_looking_environment(
    findings: &mut Findings,
    path: &str,
    container: &ContainerDefinition,
) {
    for (j, variable) in container.environment.iter().flatten().enumerate() {
        let Some(name) = variable.name.as_deref() else {
            continue;
        };
        if looks_secret(name) {
            findings.warning(
                format!("{path}.environment[{j}].value"),
                format!(
                    "environment variable \"{name}\" looks like a secret: plain values are readable by anyone who can describe the task definition; move it to `secrets` (SSM Parameter Store or Secrets Manager)"
                ),
            );
        }
    }
}

/// Task-level cpu/memory: readable, within the containers' sum, and a Fargate size on Fargate.
fn task_size(findings: &mut Findings, at: &str, td: &TaskDefinitionInput, launch: Launch) {
    let cpu = td.cpu.as_ref().map(|c| (c, cpu_units(&c.0)));
    let memory = td.memory.as_ref().map(|m| (m, memory_mib(&m.0)));
    if let Some((raw, None)) = cpu {
        findings.error(
            format!("{at}.cpu"),
            format!(
                "\"{}\" is not a CPU size: write CPU units (\"256\") or vCPUs (\"0.25 vCPU\")",
                raw.0
            ),
        );
    }
    if let Some((raw, None)) = memory {
        findings.error(
            format!("{at}.memory"),
            format!(
                "\"{}\" is not a memory size: write MiB (\"512\") or GB (\"1 GB\")",
                raw.0
            ),
        );
    }
    let cpu = cpu.and_then(|(_, c)| c);
    let memory = memory.and_then(|(_, m)| m);
    let containers = &td.container_definitions;
    let sum = |f: fn(&ContainerDefinition) -> Option<i32>| -> u32 {
        containers
            .iter()
            .filter_map(f)
            .map(|v| v.max(0) as u32)
            .sum()
    };
    if let Some(task) = memory {
        let limits = sum(|c| c.memory);
        if limits > task {
            findings.error(format!("{at}.memory"), format!("the containers' memory adds up to {limits} MiB, more than the task's {task} MiB"));
        }
    }
    if let Some(task) = cpu {
        let units = sum(|c| c.cpu);
        if units > task {
            findings.error(
                format!("{at}.cpu"),
                format!(
                    "the containers' cpu adds up to {units} units, more than the task's {task}"
                ),
            );
        }
    }
    if launch.fargate {
        fargate(findings, at, td, cpu, memory);
    }
}

fn fargate(
    findings: &mut Findings,
    at: &str,
    td: &TaskDefinitionInput,
    cpu: Option<u32>,
    memory: Option<u32>,
) {
    if td.network_mode != Some(NetworkMode::Awsvpc) {
        let got = td
            .network_mode
            .map_or("unset (bridge)", NetworkMode::as_str);
        findings.error(
            format!("{at}.networkMode"),
            format!("Fargate needs networkMode awsvpc, got {got}"),
        );
    }
    let sizes = FARGATE_CPU_SIZES
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if td.cpu.is_none() {
        findings.error(
            format!("{at}.cpu"),
            format!("Fargate needs a task-level cpu: one of {sizes}"),
        );
    }
    if td.memory.is_none() {
        findings.error(
            format!("{at}.memory"),
            "Fargate needs a task-level memory size (MiB)",
        );
    }
    let Some(cpu) = cpu else { return };
    match fargate_memory_options(cpu) {
        None => findings.error(
            format!("{at}.cpu"),
            format!("{cpu} is not a Fargate CPU size: use one of {sizes}"),
        ),
        Some(options) => {
            if let Some(memory) = memory
                && !options.contains(&memory)
            {
                findings.error(
                    format!("{at}.memory"),
                    format!(
                        "{memory} MiB is not a Fargate size for cpu {cpu}: use one of {}",
                        describe_sizes(&options)
                    ),
                );
            }
        }
    }
}

fn service_rules(
    findings: &mut Findings,
    spec: &EcsServiceSpec,
    object_name: &str,
    task_definitions: &BTreeMap<&str, &TaskDefinitionInput>,
) {
    ecs_name(
        findings,
        "spec.serviceName",
        spec.service.service_name.as_deref().unwrap_or(object_name),
    );
    let task = match (&spec.task_definition, &spec.task_definition_ref) {
        (Some(_), Some(_)) => {
            findings.error(
                "spec.taskDefinitionRef",
                "set taskDefinition or taskDefinitionRef, not both",
            );
            None
        }
        (None, None) => {
            findings.error(
                "spec",
                "a service needs a task definition: set taskDefinition (inline) or taskDefinitionRef (an EcsTaskDefinition's name)",
            );
            None
        }
        (Some(ServiceTaskDefinition::Inline(td)), None) => {
            let launch = Launch::of_task(td).with_service(spec);
            ecs_name(
                findings,
                "spec.taskDefinition.family",
                family(td, object_name),
            );
            task_definition(findings, "spec.taskDefinition", td, launch);
            Some(&**td)
        }
        (Some(ServiceTaskDefinition::Existing(_)), None) => None,
        (None, Some(name)) => task_definitions.get(name.as_str()).copied().or_else(|| {
            let known: Vec<&str> = task_definitions.keys().copied().collect();
            let mut message = format!("no EcsTaskDefinition named \"{name}\" in this source");
            if let Some(near) = nearest(name, &known) {
                message.push_str(&format!("; did you mean \"{near}\"?"));
            }
            findings.error("spec.taskDefinitionRef", message);
            None
        }),
    };
    if spec.service.launch_type.is_some()
        && spec
            .service
            .capacity_provider_strategy
            .as_ref()
            .is_some_and(|s| !s.is_empty())
    {
        findings.error(
            "spec.capacityProviderStrategy",
            "set launchType or capacityProviderStrategy, not both: ECS rejects the pair",
        );
    }
    if let Some(deployment) = &spec.service.deployment_configuration
        && let (Some(min), Some(max)) = (
            deployment.minimum_healthy_percent,
            deployment.maximum_percent,
        )
        && min > max
    {
        findings.error(
            "spec.deploymentConfiguration.minimumHealthyPercent",
            format!("minimumHealthyPercent ({min}) must not exceed maximumPercent ({max})"),
        );
    }
    if let Some(td) = task {
        service_against_task(findings, spec, td);
    }
    policy(findings, spec);
    pre_deploy(findings, spec, object_name, task, task_definitions);
}

/// A pre-deploy task's default family when its task definition is inline.
pub fn pre_deploy_family(service_object: &str, task: &str) -> String {
    format!("{service_object}-{task}")
}

/// `rollout.preDeploy`: names, exactly one task definition each, what RunTask will need.
fn pre_deploy(
    findings: &mut Findings,
    spec: &EcsServiceSpec,
    object_name: &str,
    service_task: Option<&TaskDefinitionInput>,
    task_definitions: &BTreeMap<&str, &TaskDefinitionInput>,
) {
    let tasks = spec
        .rollout
        .iter()
        .flat_map(|r| r.pre_deploy.iter().flatten());
    let mut names = BTreeSet::new();
    for (i, task) in tasks.enumerate() {
        let at = format!("spec.rollout.preDeploy[{i}]");
        let valid_name = !task.name.is_empty()
            && task.name.len() <= 64
            && task
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            findings.error(
                format!("{at}.name"),
                format!("\"{}\" is not a valid task name: use up to 64 letters, digits, hyphens and underscores", task.name),
            );
        } else if !names.insert(task.name.as_str()) {
            findings.error(
                format!("{at}.name"),
                format!(
                    "two pre-deploy tasks are named \"{}\": names must be unique",
                    task.name
                ),
            );
        }
        let uses_service = task.use_service_task_definition == Some(true);
        let td = match (
            &task.task_definition_ref,
            &task.task_definition,
            uses_service,
        ) {
            (Some(name), None, false) => {
                task_definitions.get(name.as_str()).copied().or_else(|| {
                    let known: Vec<&str> = task_definitions.keys().copied().collect();
                    let mut message =
                        format!("no EcsTaskDefinition named \"{name}\" in this source");
                    if let Some(near) = nearest(name, &known) {
                        message.push_str(&format!("; did you mean \"{near}\"?"));
                    }
                    findings.error(format!("{at}.taskDefinitionRef"), message);
                    None
                })
            }
            (None, Some(ServiceTaskDefinition::Inline(td)), false) => {
                let at = format!("{at}.taskDefinition");
                let default = pre_deploy_family(object_name, &task.name);
                ecs_name(
                    findings,
                    &format!("{at}.family"),
                    td.family.as_deref().unwrap_or(&default),
                );
                task_definition(findings, &at, td, Launch::of_task(td).with_service(spec));
                Some(&**td)
            }
            (None, Some(ServiceTaskDefinition::Existing(_)), false) => None,
            (None, None, true) => service_task,
            _ => {
                findings.error(
                    at.clone(),
                    "set exactly one of taskDefinitionRef, taskDefinition and useServiceTaskDefinition: true",
                );
                None
            }
        };
        if let Some(timeout) = task.timeout.as_deref()
            && super::parse_duration(timeout).is_none()
        {
            findings.error(
                format!("{at}.timeout"),
                format!(
                    "\"{timeout}\" is not a duration: write a number and a unit, e.g. 90s, 10m, 1h"
                ),
            );
        }
        let Some(td) = td else { continue };
        if td.network_mode == Some(NetworkMode::Awsvpc)
            && spec.service.network_configuration.is_none()
        {
            findings.error(
                at.clone(),
                "the task definition uses networkMode awsvpc and runs in the service's network: set the service's networkConfiguration",
            );
        }
        let containers: BTreeSet<&str> = td
            .container_definitions
            .iter()
            .filter_map(|c| c.name.as_deref())
            .collect();
        let overrides = task
            .overrides
            .iter()
            .flat_map(|o| o.container_overrides.iter().flatten());
        for (j, container) in overrides.enumerate() {
            if let Some(name) = container.name.as_deref()
                && !containers.contains(name)
            {
                findings.error(
                    format!("{at}.overrides.containerOverrides[{j}].name"),
                    unknown_container(name, &containers),
                );
            }
        }
    }
}

/// What the service asks of its task definition's containers and network.
fn service_against_task(findings: &mut Findings, spec: &EcsServiceSpec, td: &TaskDefinitionInput) {
    if td.network_mode == Some(NetworkMode::Awsvpc) && spec.service.network_configuration.is_none()
    {
        findings.error(
            "spec.networkConfiguration",
            "the task definition uses networkMode awsvpc: set networkConfiguration.awsvpcConfiguration (subnets, securityGroups)",
        );
    }
    let names: BTreeSet<&str> = td
        .container_definitions
        .iter()
        .filter_map(|c| c.name.as_deref())
        .collect();
    for (i, lb) in spec.service.load_balancers.iter().flatten().enumerate() {
        let Some(name) = lb.container_name.as_deref() else {
            continue;
        };
        let Some(container) = td
            .container_definitions
            .iter()
            .find(|c| c.name.as_deref() == Some(name))
        else {
            findings.error(
                format!("spec.loadBalancers[{i}].containerName"),
                unknown_container(name, &names),
            );
            continue;
        };
        if let Some(port) = lb.container_port {
            let mapped = container
                .port_mappings
                .iter()
                .flatten()
                .any(|m| m.container_port == Some(port));
            if !mapped {
                findings.error(
                    format!("spec.loadBalancers[{i}].containerPort"),
                    format!("container \"{name}\" has no port mapping for containerPort {port}"),
                );
            }
        }
    }
}

/// The controller's own fields: ignoreDifferences paths and the rollout timeout.
fn policy(findings: &mut Findings, spec: &EcsServiceSpec) {
    for (i, path) in spec.ignore_differences.iter().flatten().enumerate() {
        if let Err(message) = super::IgnoredField::parse(path) {
            findings.error(format!("spec.ignoreDifferences[{i}]"), message);
        }
    }
    if let Some(timeout) = spec.rollout.as_ref().and_then(|r| r.timeout.as_deref())
        && super::parse_duration(timeout).is_none()
    {
        findings.error(
            "spec.rollout.timeout",
            format!(
                "\"{timeout}\" is not a duration: write a number and a unit, e.g. 90s, 10m, 1h"
            ),
        );
    }
}

/// Capacity providers ECS has in every account and region.
const BUILT_IN_PROVIDERS: &[&str] = &["FARGATE", "FARGATE_SPOT"];

/// A capacity provider's name and its one kind of capacity.
fn capacity_provider(findings: &mut Findings, input: &CapacityProviderInput, object_name: &str) {
    let name = input.name.as_deref().unwrap_or(object_name);
    ecs_name(findings, "spec.name", name);
    let lower = name.to_ascii_lowercase();
    if let Some(prefix) = ["aws", "ecs", "fargate"]
        .iter()
        .find(|p| lower.starts_with(*p))
    {
        findings.error(
            "spec.name",
            format!("capacity provider names cannot start with \"{prefix}\" (ECS reserves aws, ecs and fargate): rename \"{name}\""),
        );
    }
    match (&input.auto_scaling_group_provider, &input.managed_instances_provider) {
        (Some(_), Some(_)) => findings.error(
            "spec.managedInstancesProvider",
            "set autoScalingGroupProvider or managedInstancesProvider, not both",
        ),
        (None, None) => findings.error(
            "spec",
            "a capacity provider needs its capacity: set autoScalingGroupProvider (an EC2 Auto Scaling group) or managedInstancesProvider (ECS Managed Instances)",
        ),
        (None, Some(_)) if input.cluster.is_none() => findings.error(
            "spec.cluster",
            "an ECS Managed Instances capacity provider belongs to one cluster: set cluster",
        ),
        _ => {}
    }
}

/// Capacity providers that clusters and services name: built in, defined in the source, or
/// (a warning) expected to exist in ECS; a service's must be its cluster's, as ECS requires.
fn capacity_references(manifests: &[Manifest]) -> Vec<Diagnostic> {
    let defined: BTreeSet<String> = manifests
        .iter()
        .filter_map(|m| match &m.object {
            Object::CapacityProvider(p) => Some(
                p.spec
                    .capacity_provider
                    .name
                    .clone()
                    .unwrap_or_else(|| m.object.name().to_string()),
            ),
            _ => None,
        })
        .collect();
    let clusters: BTreeMap<String, Option<&Vec<String>>> = manifests
        .iter()
        .filter_map(|m| match &m.object {
            Object::Cluster(c) => Some((
                c.spec
                    .cluster
                    .cluster_name
                    .clone()
                    .unwrap_or_else(|| m.object.name().to_string()),
                c.spec.cluster.capacity_providers.as_ref(),
            )),
            _ => None,
        })
        .collect();
    let known = |name: &str| BUILT_IN_PROVIDERS.contains(&name) || defined.contains(name);
    let unknown = |name: &str| {
        format!(
            "capacity provider \"{name}\" is not defined in this source (no EcsCapacityProvider) nor built in (FARGATE, FARGATE_SPOT): it must exist in ECS already"
        )
    };
    let mut diagnostics = Vec::new();
    for manifest in manifests {
        let mut findings = Findings::default();
        match &manifest.object {
            Object::Cluster(c) => {
                for (i, name) in c
                    .spec
                    .cluster
                    .capacity_providers
                    .iter()
                    .flatten()
                    .enumerate()
                {
                    if !known(name) {
                        findings.warning(format!("spec.capacityProviders[{i}]"), unknown(name));
                    }
                }
            }
            Object::Service(s) => {
                let cluster = s
                    .spec
                    .service
                    .cluster
                    .clone()
                    .unwrap_or_else(|| "default".into());
                let strategy = s.spec.service.capacity_provider_strategy.iter().flatten();
                for (i, item) in strategy.enumerate() {
                    let name = item.capacity_provider.as_str();
                    let field = format!("spec.capacityProviderStrategy[{i}].capacityProvider");
                    match clusters.get(&cluster) {
                        Some(Some(associated)) if !associated.iter().any(|a| a == name) => {
                            findings.error(field, format!("capacity provider \"{name}\" is not one of cluster {cluster}'s capacityProviders ({}): add it to the EcsCluster, as ECS requires", associated.join(", ")));
                        }
                        _ if !known(name) => findings.warning(field, unknown(name)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        diagnostics.extend(findings.0.into_iter().map(|f| manifest.diagnostic(f)));
    }
    diagnostics
}

/// Names that must be unique across the source, and references between objects.
fn cross_object(manifests: &[Manifest]) -> Vec<Diagnostic> {
    let mut diagnostics = capacity_references(manifests);
    let mut seen: BTreeMap<(Place, &'static str, String), &Manifest> = BTreeMap::new();
    for manifest in manifests {
        for (what, identity) in ecs_identities(&manifest.object) {
            let key = (place(&manifest.object), what, identity.clone());
            match seen.get(&key) {
                Some(first) => diagnostics.push(manifest.diagnostic(Finding {
                    severity: Severity::Error,
                    field: "metadata.name".into(),
                    pos: Pos::default(),
                    message: format!(
                        "{what} \"{identity}\" is also defined by {} at {}:{}: each ECS resource needs one owner",
                        first.object.label(),
                        first.file,
                        first.pos.line
                    ),
                })),
                None => {
                    seen.insert(key, manifest);
                }
            }
        }
    }
    diagnostics.extend(references_elsewhere(manifests));
    diagnostics
}

/// An object's account and region as written (an unset region is the default one).
type Place<'m> = (Option<&'m str>, Option<&'m str>);

fn place(object: &Object) -> Place<'_> {
    (object.account(), object.region())
}

/// Two places differ when their accounts do, or both name a region and not the same one
/// (the default region is not known here).
fn same_place(a: Place, b: Place) -> bool {
    a.0 == b.0 && (a.1.is_none() || b.1.is_none() || a.1 == b.1)
}

/// `in account A, region R`, as a message says where an object is.
fn describe_place((account, region): Place) -> String {
    let account = account.map_or("the default account".to_string(), |a| {
        format!("account {a}")
    });
    let region = region.map_or("the default region".to_string(), |r| format!("region {r}"));
    format!("in {account}, {region}")
}

/// A service runs in its cluster's account and region, and registers its
/// `taskDefinitionRef` there: an object of the source it names elsewhere is a mistake.
fn references_elsewhere(manifests: &[Manifest]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for manifest in manifests {
        let Object::Service(service) = &manifest.object else {
            continue;
        };
        let here = place(&manifest.object);
        let cluster = service.spec.service.cluster.as_deref().unwrap_or("default");
        let clusters: Vec<&Manifest> = manifests
            .iter()
            .filter(|m| matches!(&m.object, Object::Cluster(_)))
            .filter(|m| ecs_identities(&m.object).iter().any(|(_, n)| n == cluster))
            .collect();
        let referenced = [
            ("spec.cluster", clusters),
            (
                "spec.taskDefinitionRef",
                manifests
                    .iter()
                    .filter(|m| matches!(&m.object, Object::TaskDefinition(_)))
                    .filter(|m| {
                        service.spec.task_definition_ref.as_deref() == Some(m.object.name())
                    })
                    .collect(),
            ),
        ];
        for (field, found) in referenced {
            if found.is_empty() || found.iter().any(|m| same_place(here, place(&m.object))) {
                continue;
            }
            let there = found[0];
            diagnostics.push(manifest.diagnostic(Finding {
                severity: Severity::Error,
                field: field.into(),
                pos: Pos::default(),
                message: format!(
                    "{} is {}, this service {}: a reference must be in the same account and region; set spec.account and spec.region alike",
                    there.object.label(),
                    describe_place(place(&there.object)),
                    describe_place(here)
                ),
            }));
        }
    }
    diagnostics
}

/// The ECS resources an object owns, by what ECS keys them on.
fn ecs_identities(object: &Object) -> Vec<(&'static str, String)> {
    let name = object.name();
    match object {
        Object::CapacityProvider(p) => vec![(
            "capacity provider",
            p.spec
                .capacity_provider
                .name
                .clone()
                .unwrap_or_else(|| name.to_string()),
        )],
        Object::Cluster(c) => vec![(
            "cluster",
            c.spec
                .cluster
                .cluster_name
                .clone()
                .unwrap_or_else(|| name.to_string()),
        )],
        Object::TaskDefinition(td) => vec![(
            "task definition family",
            family(&td.spec.task_definition, name).to_string(),
        )],
        Object::Service(s) => {
            let cluster = s
                .spec
                .service
                .cluster
                .clone()
                .unwrap_or_else(|| "default".into());
            let service = s
                .spec
                .service
                .service_name
                .clone()
                .unwrap_or_else(|| name.to_string());
            let mut owned = vec![("service", format!("{cluster}/{service}"))];
            if let Some(ServiceTaskDefinition::Inline(td)) = &s.spec.task_definition {
                owned.push(("task definition family", family(td, name).to_string()));
            }
            for task in s
                .spec
                .rollout
                .iter()
                .flat_map(|r| r.pre_deploy.iter().flatten())
            {
                if let Some(ServiceTaskDefinition::Inline(td)) = &task.task_definition {
                    let default = pre_deploy_family(name, &task.name);
                    owned.push(("task definition family", family(td, &default).to_string()));
                }
            }
            owned
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::api::parse_file;

    const HEAD: &str = "apiVersion: ecs-gitops.dev/v1alpha1\n";

    /// The (field, message) of every error in `yaml`, after all rules ran.
    fn errors(yaml: &str) -> Vec<(String, String)> {
        let mut parsed = parse_file("test.yaml", yaml);
        parsed.check_rules();
        parsed
            .diagnostics
            .into_iter()
            .filter(|d| d.is_error())
            .map(|d| (d.field.unwrap_or_default(), d.message))
            .collect()
    }

    fn task(spec: &str) -> String {
        format!("{HEAD}kind: EcsTaskDefinition\nmetadata:\n  name: app\nspec:\n{spec}")
    }

    fn service(spec: &str) -> String {
        format!("{HEAD}kind: EcsService\nmetadata:\n  name: web\nspec:\n{spec}")
    }

    fn assert_one(yaml: &str, field: &str, message: &str) {
        let found = errors(yaml);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, field);
        assert!(
            found[0].1.contains(message),
            "{:?} lacks {message:?}",
            found[0].1
        );
    }

    const TWO: &str = "  memory: \"1024\"\n  containerDefinitions:\n    - {name: a, image: a}\n";

    #[test]
    fn links_and_volumes_from_name_existing_containers() {
        assert_one(
            &task(
                "  memory: \"512\"\n  containerDefinitions:\n    - {name: a, image: a, links: [\"b:alias\"]}\n",
            ),
            "spec.containerDefinitions[0].links[0]",
            "no container named \"b\"",
        );
        assert_one(
            &task(
                "  memory: \"512\"\n  containerDefinitions:\n    - {name: a, image: a, volumesFrom: [{sourceContainer: c}]}\n",
            ),
            "spec.containerDefinitions[0].volumesFrom[0].sourceContainer",
            "no container named \"c\"",
        );
        assert!(errors(&task(TWO)).is_empty());
    }

    #[test]
    fn network_mode_none_has_no_ports() {
        assert_one(
            &task(
                "  networkMode: none\n  memory: \"512\"\n  containerDefinitions:\n    - {name: a, image: a, portMappings: [{containerPort: 80}]}\n",
            ),
            "spec.containerDefinitions[0].portMappings",
            "networkMode none",
        );
    }

    #[test]
    fn memory_rules() {
        assert_one(
            &task(
                "  requiresCompatibilities: [EC2]\n  containerDefinitions:\n    - {name: a, image: a}\n",
            ),
            "spec.containerDefinitions[0].memory",
            "set memory or memoryReservation",
        );
        assert_one(
            &task(
                "  memory: \"512\"\n  containerDefinitions:\n    - {name: a, image: a, memory: 400}\n    - {name: b, image: b, memory: 400}\n",
            ),
            "spec.memory",
            "adds up to 800 MiB, more than the task's 512 MiB",
        );
        assert_one(
            &task(
                "  cpu: \"256\"\n  memory: \"512\"\n  containerDefinitions:\n    - {name: a, image: a, cpu: 512}\n",
            ),
            "spec.cpu",
            "adds up to 512 units",
        );
        assert_one(
            &task("  containerDefinitions:\n    - {name: a, image: a, memory: 4}\n"),
            "spec.containerDefinitions[0].memory",
            "below ECS's minimum of 6 MiB",
        );
    }

    #[test]
    fn a_task_definition_fits_ecs_64_kib() {
        let environment = |n: usize| {
            (0..n)
                .map(|i| {
                    format!(
                        "        - {{name: VARIABLE_{i:05}, value: \"{}\"}}\n",
                        "x".repeat(40)
                    )
                })
                .collect::<String>()
        };
        let yaml = |n: usize| {
            task(&format!(
                "  memory: \"512\"\n  containerDefinitions:\n    - name: a\n      image: a\n      environment:\n{}",
                environment(n)
            ))
        };
        assert!(errors(&yaml(700)).is_empty());
        let found = errors(&yaml(1000));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, "spec");
        assert!(
            found[0]
                .1
                .contains("over ECS's limit of 65536 (64 KiB); containerDefinitions[0] alone is"),
            "{}",
            found[0].1
        );
    }

    #[test]
    fn fargate_needs_a_task_size_it_offers() {
        let fargate = "  requiresCompatibilities: [FARGATE]\n  networkMode: awsvpc\n";
        let found = errors(&task(&format!(
            "{fargate}  containerDefinitions:\n    - {{name: a, image: a}}\n"
        )));
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["spec.cpu", "spec.memory"], "{found:#?}");
        assert_one(
            &task(&format!(
                "{fargate}  cpu: \"300\"\n  memory: \"512\"\n  containerDefinitions:\n    - {{name: a, image: a}}\n"
            )),
            "spec.cpu",
            "300 is not a Fargate CPU size",
        );
        assert!(errors(&task(&format!("{fargate}  cpu: 1 vCPU\n  memory: 3 GB\n  containerDefinitions:\n    - {{name: a, image: a}}\n"))).is_empty());
    }

    #[test]
    fn a_fargate_service_applies_fargate_rules_to_its_inline_task() {
        assert_one(
            &service(
                "  launchType: FARGATE\n  taskDefinition:\n    cpu: \"256\"\n    memory: \"512\"\n    containerDefinitions:\n      - {name: a, image: a}\n",
            ),
            "spec.taskDefinition.networkMode",
            "Fargate needs networkMode awsvpc, got unset (bridge)",
        );
    }

    #[test]
    fn service_rules() {
        assert_one(
            &service(
                "  taskDefinition: app:1\n  launchType: EC2\n  capacityProviderStrategy: [{capacityProvider: FARGATE}]\n",
            ),
            "spec.capacityProviderStrategy",
            "not both",
        );
        assert_one(
            &service(
                "  taskDefinition: app:1\n  deploymentConfiguration: {minimumHealthyPercent: 150, maximumPercent: 100}\n",
            ),
            "spec.deploymentConfiguration.minimumHealthyPercent",
            "must not exceed maximumPercent",
        );
        assert_one(
            &service(
                "  taskDefinition:\n    networkMode: awsvpc\n    memory: \"512\"\n    containerDefinitions:\n      - {name: a, image: a}\n",
            ),
            "spec.networkConfiguration",
            "networkMode awsvpc",
        );
        assert_one(
            &service("  taskDefinition: app:1\n  rollout: {timeout: soon}\n"),
            "spec.rollout.timeout",
            "\"soon\" is not a duration",
        );
        assert_one(
            &service("  serviceName: \"web app\"\n  taskDefinition: app:1\n"),
            "spec.serviceName",
            "not a valid ECS name",
        );
        assert_one(
            &service(
                "  loadBalancers: [{containerName: b, containerPort: 80}]\n  taskDefinition:\n    memory: \"512\"\n    containerDefinitions:\n      - {name: a, image: a}\n",
            ),
            "spec.loadBalancers[0].containerName",
            "no container named \"b\"",
        );
    }

    #[test]
    fn a_family_has_one_owner() {
        let yaml = format!(
            "{}\n---\n{}",
            task(TWO),
            service(
                "  taskDefinition:\n    family: app\n    memory: \"512\"\n    containerDefinitions:\n      - {name: a, image: a}\n"
            )
        );
        assert_one(
            &yaml,
            "metadata.name",
            "task definition family \"app\" is also defined by EcsTaskDefinition/app",
        );
    }

    #[test]
    fn pre_deploy_tasks_name_one_task_definition_each_and_known_containers() {
        let with = |tasks: &str| {
            service(&format!(
                "  taskDefinition:\n    containerDefinitions: [{{name: app, image: a, memory: 128}}]\n  rollout:\n    preDeploy:\n{tasks}"
            ))
        };
        assert!(
            errors(&with(
                "      - {name: migrate, useServiceTaskDefinition: true}\n"
            ))
            .is_empty()
        );
        assert_one(
            &with(
                "      - {name: migrate, useServiceTaskDefinition: true, taskDefinitionRef: app}\n",
            ),
            "spec.rollout.preDeploy[0]",
            "set exactly one of taskDefinitionRef, taskDefinition and useServiceTaskDefinition",
        );
        assert_one(
            &with("      - {name: migrate}\n"),
            "spec.rollout.preDeploy[0]",
            "set exactly one of",
        );
        assert_one(
            &with("      - {name: migrate, taskDefinitionRef: migrations}\n"),
            "spec.rollout.preDeploy[0].taskDefinitionRef",
            "no EcsTaskDefinition named \"migrations\" in this source",
        );
        assert_one(
            &with(
                "      - {name: a, useServiceTaskDefinition: true}\n      - {name: a, taskDefinition: other:3}\n",
            ),
            "spec.rollout.preDeploy[1].name",
            "two pre-deploy tasks are named \"a\"",
        );
        assert_one(
            &with("      - {name: \"db migrate\", useServiceTaskDefinition: true}\n"),
            "spec.rollout.preDeploy[0].name",
            "not a valid task name",
        );
        assert_one(
            &with("      - {name: m, useServiceTaskDefinition: true, timeout: later}\n"),
            "spec.rollout.preDeploy[0].timeout",
            "\"later\" is not a duration",
        );
        assert_one(
            &with(
                "      - name: m\n        useServiceTaskDefinition: true\n        overrides: {containerOverrides: [{name: ap, command: [migrate]}]}\n",
            ),
            "spec.rollout.preDeploy[0].overrides.containerOverrides[0].name",
            "no container named \"ap\" in this task definition (containers: app); did you mean \"app\"?",
        );
        assert_one(
            &with(
                "      - name: m\n        taskDefinition: {networkMode: awsvpc, containerDefinitions: [{name: m, image: m, memory: 128}]}\n",
            ),
            "spec.rollout.preDeploy[0]",
            "networkMode awsvpc",
        );
    }

    #[test]
    fn capacity_providers_are_named_as_ecs_allows_and_referenced_where_they_are_associated() {
        let provider = |name: &str, spec: &str| {
            format!("{HEAD}kind: EcsCapacityProvider\nmetadata:\n  name: {name}\nspec:\n{spec}")
        };
        let asg = "  autoScalingGroupProvider:\n    autoScalingGroupArn: arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x:autoScalingGroupName/asg\n";
        assert!(errors(&provider("spot", asg)).is_empty());
        assert_one(
            &provider("ecs-spot", asg),
            "spec.name",
            "cannot start with \"ecs\"",
        );
        assert_one(
            &provider("spot", "  tags: []\n"),
            "spec",
            "set autoScalingGroupProvider",
        );
        assert_one(
            &provider(
                "mi",
                "  managedInstancesProvider:\n    infrastructureRoleArn: r\n    instanceLaunchTemplate: {ec2InstanceProfileArn: p, networkConfiguration: {subnets: [s]}}\n",
            ),
            "spec.cluster",
            "belongs to one cluster",
        );
        // A service's provider must be one of its cluster's.
        let cluster = format!(
            "{HEAD}kind: EcsCluster\nmetadata:\n  name: c1\nspec:\n  capacityProviders: [spot, FARGATE]\n"
        );
        let web = |provider_name: &str| {
            service(&format!(
                "  cluster: c1\n  capacityProviderStrategy: [{{capacityProvider: {provider_name}, weight: 1}}]\n  taskDefinition: app:1\n"
            ))
        };
        let source = |p: &str| format!("{}---\n{cluster}---\n{}", provider("spot", asg), web(p));
        assert!(
            errors(&source("spot")).is_empty(),
            "{:?}",
            errors(&source("spot"))
        );
        assert_one(
            &source("FARGATE_SPOT"),
            "spec.capacityProviderStrategy[0].capacityProvider",
            "capacity provider \"FARGATE_SPOT\" is not one of cluster c1's capacityProviders (spot, FARGATE)",
        );
        // Unknown to the source: ECS must have it, a warning.
        let mut parsed = parse_file("t.yaml", &cluster.replace("[spot, FARGATE]", "[other]"));
        parsed.check_rules();
        assert_eq!(parsed.errors(), 0);
        assert!(
            parsed.diagnostics[0]
                .message
                .contains("\"other\" is not defined in this source")
        );
    }

    #[test]
    fn names_are_unique_per_account_and_region() {
        let yaml = format!(
            "{}\n---\n{}",
            task(TWO),
            task(&format!("  family: app\n  account: prod\n{TWO}"))
                .replace("name: app", "name: app-prod")
        );
        assert_eq!(errors(&yaml), []);
    }

    #[test]
    fn references_stay_in_their_account_and_region() {
        let cluster = format!(
            "{HEAD}kind: EcsCluster\nmetadata:\n  name: c1\nspec:\n  account: prod\n  region: eu-west-1\n"
        );
        let web =
            |place: &str| service(&format!("  cluster: c1\n{place}  taskDefinitionRef: app\n"));
        let app = task(&format!("  account: prod\n{TWO}"));
        let yaml = [cluster.as_str(), &app, &web("  account: prod\n")].join("\n---\n");
        assert_eq!(errors(&yaml), [], "an unset region is the default one");
        let yaml = [
            cluster.as_str(),
            &app,
            &web("  account: dev\n  region: eu-west-1\n"),
        ]
        .join("\n---\n");
        assert_eq!(
            errors(&yaml),
            [
                (
                    "spec.cluster".to_string(),
                    "EcsCluster/c1 is in account prod, region eu-west-1, this service in account dev, region eu-west-1: a reference must be in the same account and region; set spec.account and spec.region alike".to_string()
                ),
                (
                    "spec.taskDefinitionRef".to_string(),
                    "EcsTaskDefinition/app is in account prod, the default region, this service in account dev, region eu-west-1: a reference must be in the same account and region; set spec.account and spec.region alike".to_string()
                ),
            ]
        );
        let yaml = [
            cluster.as_str(),
            &web("  account: prod\n  region: us-east-1\n  taskDefinition: app:1\n"),
        ]
        .join("\n---\n")
        .replace("  taskDefinitionRef: app\n", "");
        assert_one(
            &yaml,
            "spec.cluster",
            "EcsCluster/c1 is in account prod, region eu-west-1",
        );
    }
}
