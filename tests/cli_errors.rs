//! Every way the command line stops on an error, run as a person runs it: the real binary in
//! an environment without AWS or Kubernetes settings, the simulator over HTTP for ECS's
//! refusals, a real API server for Kubernetes'. Each case is checked on the exact first line
//! it prints (a long-running `run` on its first warning or error, without the timestamp).

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use common::{free_port, sim_json, sim_process};

/// The binary with a clean environment: no AWS, Kubernetes or ecs-gitops variables, a home
/// without `~/.aws` or `~/.kube`, and EC2 instance metadata off (so that no machine's own
/// role or region answers).
fn ecs_gitops(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecs-gitops"));
    command
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn output(command: &mut Command) -> Output {
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the binary stops within a minute")
        .unwrap()
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Runs `args` and checks that it fails with `expected` as its first line on stderr.
async fn fails_with(home: &Path, args: &[&str], env: &[(&str, &str)], expected: &str) {
    let out = output(ecs_gitops(home).args(args).envs(env.iter().copied())).await;
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(
        first_line(&out.stderr),
        expected,
        "{args:?} {env:?}; all of stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A long-running command's first WARN or ERROR log line, without its timestamp; the process
/// is stopped then.
async fn first_problem(command: &mut Command) -> String {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let (_, rest) = line.split_once(' ').unwrap_or_default();
            let rest = rest.trim_start();
            if rest.starts_with("WARN ") || rest.starts_with("ERROR ") {
                return rest.to_string();
            }
        }
        panic!("the process ended without a warning");
    })
    .await
    .expect("a warning within a minute");
    child.kill().await.unwrap();
    found
}

#[tokio::test]
async fn bad_arguments_are_named_by_the_parser() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[],
            "A GitOps controller for AWS ECS: manifests in Git, ECS kept in sync",
        ),
        (
            &["frobnicate"],
            "error: unrecognized subcommand 'frobnicate'",
        ),
        (
            &["diff"],
            "error: the following required arguments were not provided:",
        ),
        (
            &["diff", "examples/quickstart", "--frobnicate"],
            "error: unexpected argument '--frobnicate' found",
        ),
        (
            &["apply", "examples/quickstart", "--timeout", "10x"],
            "error: invalid value '10x' for '--timeout <TIMEOUT>': \"10x\" is not a duration (90s, 10m, 1h)",
        ),
        (
            &["validate", "examples/quickstart", "--max-file-size", "4XB"],
            "error: invalid value '4XB' for '--max-file-size <MAX_FILE_SIZE>': \"4XB\" is not a size (4194304, 512KiB, 4MiB)",
        ),
        (
            &["run", "--dir", "examples/quickstart", "--listen", "nope"],
            "error: invalid value 'nope' for '--listen <LISTEN>': invalid socket address syntax",
        ),
        (
            &["sim", "--speed", "0"],
            "error: invalid value '0' for '--speed <SPEED>': \"0\" is not a positive number",
        ),
        (
            &[
                "diff",
                "examples/quickstart",
                "--local",
                "--endpoint-url",
                "http://127.0.0.1:9",
            ],
            "error: the argument '--local' cannot be used with '--endpoint-url <ENDPOINT_URL>'",
        ),
        (
            &["run"],
            "error: the following required arguments were not provided:",
        ),
        (
            &["run", "--dir", "examples/quickstart", "--ref", "main"],
            "error: the argument '--dir <DIR>' cannot be used with '--ref <REFERENCE>'",
        ),
        (
            &["diff", "examples/quickstart", "--owner", " "],
            "error: invalid value ' ' for '--owner <OWNER>': an owner names this source (e.g. github.com/acme/deploy//ecs): it cannot be empty",
        ),
    ];
    for (args, expected) in cases {
        fails_with(home.path(), args, &[], expected).await;
    }
}

#[tokio::test]
async fn manifests_that_cannot_be_used_are_named_by_file_line_and_field() {
    let home = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let empty = empty.path().to_str().unwrap();
    let invalid = "tests/fixtures/invalid/01-unknown-field.yaml";
    let unknown_field = format!(
        "{invalid}:10:7: EcsTaskDefinition/api: spec.containerDefinitions[0].memroy: unknown field \"memroy\", did you mean \"memory\"?"
    );
    // diff and apply (and their --local) load before they reach ECS: these are on stderr.
    for command in ["diff", "apply"] {
        let cases: [(&str, &str); 3] = [
            ("nope", "nope: no such file or directory"),
            (invalid, &unknown_field),
            (empty, "error: no ecs-gitops.dev objects found"),
        ];
        for (path, expected) in cases {
            fails_with(home.path(), &[command, path, "--local"], &[], expected).await;
        }
    }
    // validate reports on stdout: the report is what it is for.
    for (path, expected) in [
        ("nope", "nope: no such file or directory"),
        (invalid, &unknown_field),
        (empty, "error: no ecs-gitops.dev objects found"),
    ] {
        let out = output(ecs_gitops(home.path()).args(["validate", path])).await;
        assert_eq!(out.status.code(), Some(1), "{path}");
        assert_eq!(first_line(&out.stdout), expected, "{path}");
    }
}

const CREDENTIALS_ADVICE: &str = "  use a profile (AWS_PROFILE=NAME; `aws configure` creates one), or try ecs-gitops on its embedded ECS simulator with --local";

#[tokio::test]
async fn without_aws_credentials_the_sources_tried_the_region_and_the_ways_forward_are_said() {
    let home = tempfile::tempdir().unwrap();
    for command in ["diff", "apply"] {
        let out = output(ecs_gitops(home.path()).args([command, "examples/quickstart"])).await;
        assert_eq!(out.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines,
            [
                "error: no AWS credentials found (tried the environment, profile \"default\", web identity, ECS container and EC2 instance metadata); region us-east-1 (the default: none is configured)",
                CREDENTIALS_ADVICE,
            ],
            "{command}"
        );
    }
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("AWS_REGION", "eu-west-1")],
            "error: no AWS credentials found (tried the environment, profile \"default\", web identity, ECS container and EC2 instance metadata); region eu-west-1 (from AWS_REGION)",
        ),
        (
            &[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")],
            "error: cannot load AWS credentials: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; region us-east-1 (the default: none is configured)",
        ),
        (
            &[
                ("AWS_PROFILE", "staging"),
                ("AWS_DEFAULT_REGION", "eu-central-1"),
            ],
            "error: cannot load AWS credentials: profile \"staging\" (AWS_PROFILE) is defined in neither ~/.aws/config nor ~/.aws/credentials; region eu-central-1 (from AWS_DEFAULT_REGION)",
        ),
    ];
    for (env, expected) in cases {
        fails_with(home.path(), &["diff", "examples/quickstart"], env, expected).await;
    }
    // A profile with a region and no credentials: nothing to use, and the region is the profile's.
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        "[profile dev]\nregion = eu-north-1\n",
    )
    .unwrap();
    fails_with(
        home.path(),
        &["diff", "examples/quickstart"],
        &[("AWS_PROFILE", "dev")],
        "error: no AWS credentials found (tried the environment, profile \"dev\", web identity, ECS container and EC2 instance metadata); region eu-north-1 (from profile \"dev\")",
    )
    .await;
}

/// Dummy keys: the simulator takes any signature.
const KEYS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
    ("AWS_REGION", "eu-west-1"),
];

#[tokio::test]
async fn an_endpoint_nothing_serves_is_named_with_the_flag_that_chose_it() {
    let home = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let expected =
        format!("error: cannot reach ECS at {endpoint} (from --endpoint-url): connection refused");
    fails_with(
        home.path(),
        &["diff", "examples/quickstart", "--endpoint-url", &endpoint],
        KEYS,
        &expected,
    )
    .await;
    let mut env = KEYS.to_vec();
    env.push(("ECS_GITOPS_ENDPOINT_URL", &endpoint));
    fails_with(
        home.path(),
        &["apply", "examples/quickstart"],
        &env,
        &expected.replace("--endpoint-url", "ECS_GITOPS_ENDPOINT_URL"),
    )
    .await;
}

#[tokio::test]
async fn ecs_refusing_the_credentials_or_the_action_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let (_sim, sim) = sim_process("1").await;
    let endpoint = format!("http://{sim}");
    let cases = [
        (
            "AccessDeniedException",
            [
                "error: AWS denied ecs:DescribeClusters in eu-west-1 (from AWS_REGION): User: arn:aws:iam::000000000000:user/sim is not authorized to perform: ecs:DescribeClusters on resource: * because no identity-based policy allows the ecs:DescribeClusters action",
                "  allow ecs:DescribeClusters in the IAM policy of the identity in use: manifests/aws/iam-policy.json lists every ECS action ecs-gitops calls",
            ],
        ),
        (
            "ExpiredTokenException",
            [
                "error: the AWS credentials have expired: ecs:DescribeClusters in eu-west-1 (from AWS_REGION) answered ExpiredTokenException (The security token included in the request is expired)",
                "  renew them (`aws sso login`, or a new AWS_SESSION_TOKEN) and run again",
            ],
        ),
        (
            "UnrecognizedClientException",
            [
                "error: AWS does not accept these credentials: ecs:DescribeClusters in eu-west-1 (from AWS_REGION) answered UnrecognizedClientException (The security token included in the request is invalid.)",
                "  check the access key and its secret (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile's)",
            ],
        ),
        (
            "InvalidSignatureException",
            [
                "error: AWS does not accept these credentials: ecs:DescribeClusters in eu-west-1 (from AWS_REGION) answered InvalidSignatureException (The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.)",
                "  check the access key and its secret (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile's)",
            ],
        ),
    ];
    for (code, expected) in cases {
        sim_json(
            sim,
            "POST",
            "/_sim/faults",
            &format!(r#"{{"failNext": 1, "error": "{code}"}}"#),
        )
        .await;
        let out = output(
            ecs_gitops(home.path())
                .args(["diff", "examples/quickstart", "--endpoint-url", &endpoint])
                .envs(KEYS.iter().copied()),
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{code}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().collect::<Vec<_>>(), expected, "{code}");
    }
    // A controller says the same in its log, and keeps going.
    sim_json(
        sim,
        "POST",
        "/_sim/faults",
        r#"{"failNext": 1, "error": "AccessDeniedException"}"#,
    )
    .await;
    let problem = first_problem(
        ecs_gitops(home.path())
            .args([
                "run",
                "--dir",
                "examples/quickstart",
                "--endpoint-url",
                &endpoint,
            ])
            .args(["--listen", "127.0.0.1:0"])
            .envs(KEYS.iter().copied()),
    )
    .await;
    assert_eq!(
        problem,
        "ERROR ecs_gitops::controller: observing ECS failed: this sweep stops here error=AWS denied ecs:DescribeClusters in eu-west-1 (from AWS_REGION): User: arn:aws:iam::000000000000:user/sim is not authorized to perform: ecs:DescribeClusters on resource: * because no identity-based policy allows the ecs:DescribeClusters action"
    );
}

#[tokio::test]
async fn an_address_in_use_is_named_with_its_flag() {
    let home = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let next = format!("127.0.0.1:{}", addr.port() + 1);
    let addr = addr.to_string();
    let in_use = |flag: &str| {
        format!(
            "error: cannot listen on {addr} ({flag}): the address is already in use by another process"
        )
    };
    let run = ["run", "--dir", "examples/quickstart", "--local"];
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            [&run[..], &["--listen", &addr]].concat(),
            in_use("--listen"),
        ),
        (
            [
                &run[..],
                &["--listen", "127.0.0.1:0", "--hook-listen", &addr],
            ]
            .concat(),
            in_use("--hook-listen"),
        ),
        (vec!["sim", "--listen", &addr], in_use("--listen")),
        (
            vec!["controller", "--listen", &addr, "--local"],
            in_use("--listen"),
        ),
    ];
    for (args, expected) in &cases {
        let out = output(ecs_gitops(home.path()).args(args)).await;
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let flag = if args.contains(&"--hook-listen") {
            "--hook-listen"
        } else {
            "--listen"
        };
        assert_eq!(
            stderr.lines().collect::<Vec<_>>(),
            [
                expected.as_str(),
                &format!("  stop that process, or choose another address: {flag} {next}"),
            ],
            "{args:?}"
        );
    }
    fails_with(
        home.path(),
        &["sim", "--listen", "192.0.2.1:4566"],
        &[],
        "error: cannot listen on 192.0.2.1:4566 (--listen): 192.0.2.1 is not an address of this machine",
    )
    .await;
}

#[tokio::test]
async fn run_refuses_to_start_on_its_own_settings() {
    let home = tempfile::tempdir().unwrap();
    let empty = home.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let run = [
        "run",
        "--dir",
        "examples/quickstart",
        "--local",
        "--listen",
        "127.0.0.1:0",
    ];
    // (flags, environment, the first line)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            &["--hook-token-file", empty.to_str().unwrap()],
            &[],
            "error: the webhook token (ECS_GITOPS_HOOK_TOKEN, --hook-token-file or --hook-token) is empty: an empty secret would accept anything signed with it; give a value or leave it out",
        ),
        (
            &[],
            &[("ECS_GITOPS_HOOK_SECRET", "")],
            "error: the webhook secret (ECS_GITOPS_HOOK_SECRET, --hook-secret-file or --hook-secret) is empty: an empty secret would accept anything signed with it; give a value or leave it out",
        ),
        (
            &["--hook-secret-file", "/nonexistent/secret"],
            &[],
            "error: reading the webhook secret (ECS_GITOPS_HOOK_SECRET, --hook-secret-file or --hook-secret) from /nonexistent/secret: No such file or directory (os error 2)",
        ),
        (
            &["--leader-elect"],
            &[],
            "error: --leader-elect needs Kubernetes: no Kubernetes configuration: not in a pod, and no kubeconfig (set KUBECONFIG, or create ~/.kube/config)",
        ),
    ];
    for (args, env, expected) in cases {
        fails_with(home.path(), &[&run[..], args].concat(), env, expected).await;
    }
}

#[tokio::test]
async fn run_says_why_it_cannot_sync_and_keeps_trying() {
    let home = tempfile::tempdir().unwrap();
    let listen = ["--listen", "127.0.0.1:0"];
    // A Git server that is not there.
    let url = format!("git://127.0.0.1:{}/deploy.git", free_port());
    let cache = home.path().join("cache");
    let problem = first_problem(
        ecs_gitops(home.path())
            .args(["run", "--git", &url, "--local", "--cache-dir"])
            .arg(&cache)
            .args(listen),
    )
    .await;
    assert_eq!(
        problem,
        format!(
            "WARN ecs_gitops::controller: cannot read the source; nothing is applied until it can be read error=fetching {url}: failed to connect to 127.0.0.1: Connection refused"
        )
    );
    // No AWS credentials: each sweep says so, at ERROR.
    let problem = first_problem(
        ecs_gitops(home.path())
            .args(["run", "--dir", "examples/quickstart"])
            .args(listen),
    )
    .await;
    assert_eq!(
        problem,
        "ERROR ecs_gitops::controller: observing ECS failed: this sweep stops here error=no AWS credentials found (tried the environment, profile \"default\", web identity, ECS container and EC2 instance metadata); region us-east-1 (the default: none is configured)"
    );
    // An invalid manifest: the revision is refused whole, and each problem follows.
    let deploy = home.path().join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/03-bad-enum.yaml"),
        deploy.join("web.yaml"),
    )
    .unwrap();
    let mut command = ecs_gitops(home.path());
    let problem = first_problem(
        command
            .current_dir(home.path())
            .args(["run", "--dir", "deploy", "--local"])
            .args(listen),
    )
    .await;
    assert!(
        problem.starts_with(
            "WARN ecs_gitops::controller: invalid revision rejected: nothing of it is applied revision=files:"
        ) && problem.ends_with(" problems=1"),
        "{problem}"
    );
}

#[tokio::test]
async fn the_crd_controller_says_what_kubernetes_lacks() {
    let home = tempfile::tempdir().unwrap();
    fails_with(
        home.path(),
        &["controller", "--listen", "127.0.0.1:0", "--local"],
        &[],
        "error: no Kubernetes configuration: not in a pod, and no kubeconfig (set KUBECONFIG, or create ~/.kube/config)",
    )
    .await;
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "not: [a kubeconfig").unwrap();
    let out = output(
        ecs_gitops(home.path())
            .args(["controller", "--listen", "127.0.0.1:0", "--local"])
            .env("KUBECONFIG", &kubeconfig),
    )
    .await;
    assert!(
        first_line(&out.stderr).starts_with("error: cannot load the Kubernetes configuration: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // On a real API server: first without the CRDs, then with them but without RBAC.
    let Some(bench) = common::k8s::bench() else {
        return;
    };
    let controller = |config: &str| {
        let mut command = ecs_gitops(home.path());
        command
            .args(["controller", "--listen", "127.0.0.1:0", "--local"])
            .env("KUBECONFIG", bench.dir.join(config));
        command
    };
    let out = output(&mut controller("kubeconfig")).await;
    assert_eq!(
        first_line(&out.stderr),
        "error: the custom resource definitions are not installed: kubectl apply --server-side -f crds/ (or install the chart)",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::k8s::with_crds();
    let out = output(&mut controller("kubeconfig-controller")).await;
    assert_eq!(
        first_line(&out.stderr),
        "error: Kubernetes refuses to let this identity list ecsservices.ecs-gitops.dev (ecsservices.ecs-gitops.dev is forbidden: User \"system:serviceaccount:ecs-gitops:ecs-gitops\" cannot list resource \"ecsservices\" in API group \"ecs-gitops.dev\" at the cluster scope): give it the chart's RBAC (manifests/ has it rendered)",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
