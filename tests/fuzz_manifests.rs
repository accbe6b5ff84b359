//! Hostile input, generated: thousands of manifests mutated from real ones (bytes flipped,
//! cut, repeated, nested deep, numbers pushed to their limits, invalid UTF-8) go through
//! everything a revision goes through (decode, parse, schema, rules, desired state, plan
//! hashes) and must come out as diagnostics, never as a panic or a hang. Deterministic: a
//! fixed seed, a fixed number of cases.

mod common;

use ecs_gitops::api::parse_file;
use ecs_gitops::diff::plan::{Desired, Observed, Prune, plan};
use ecs_gitops::ecs::Owner;
use ecs_gitops::source::{DEFAULT_MAX_FILE_SIZE, decode, parse_files};

const CASES: usize = 3000;

/// xorshift64*: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Manifests to start from: the examples, the fixtures, and the real-world corpus pasted
/// under a spec.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = Vec::new();
    for dir in [
        "examples/quickstart",
        "tests/fixtures/invalid",
        "tests/fixtures",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            seeds.push((
                file.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&file).unwrap(),
            ));
        }
    }
    if let Some(shared) = common::shared_dir() {
        for (dir, kind) in [
            ("taskdefs", "EcsTaskDefinition"),
            ("services", "EcsService"),
        ] {
            let mut files: Vec<_> = std::fs::read_dir(shared.join("realworld").join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for file in files {
                let body = std::fs::read_to_string(&file).unwrap();
                let text = format!(
                    "{{\"apiVersion\": \"ecs-gitops.dev/v1alpha1\", \"kind\": \"{kind}\", \"metadata\": {{\"name\": \"rw\"}}, \"spec\": {body}}}"
                );
                seeds.push((
                    file.file_name().unwrap().to_string_lossy().into_owned(),
                    text.into_bytes(),
                ));
            }
        }
    }
    assert!(seeds.len() >= 20, "{}", seeds.len());
    seeds
}

const PIECES: &[&[u8]] = &[
    b":",
    b"- ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"'",
    b"\n",
    b"\t",
    b"#",
    b"&a ",
    b"*a",
    b"!!str ",
    b"---\n",
    b"null",
    b"~",
    b"\"\"",
    b"-1",
    b"-2147483649",
    b"9223372036854775807",
    b"99999999999999999999999",
    b"1e400",
    b"-0.0",
    b"NaN",
    b".inf",
    b"true",
    b"\xff\xfe",
    b"\xf0\x9f\x9a\x80",
    b"\x00",
    b"\\u0000",
    b"  ",
    b"environment: ",
    b"containerDefinitions: ",
    b"memory: ",
    b"cpu: -100",
    b"image: \"\"",
    b"name: ",
    b"taskDefinition: ",
    b"kind: EcsService\n",
    b"apiVersion: ecs-gitops.dev/v1alpha1\n",
    b"ignoreDifferences: [\"containerDefinitions[*].image\"]",
];

/// One mutation of `input`.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(8) {
            0 if !out.is_empty() => {
                let at = at.min(out.len() - 1);
                out[at] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let piece = PIECES[rng.below(PIECES.len())];
                out.splice(at..at, piece.iter().copied());
            }
            3 => {
                // Repeat a slice: long lists, many keys, duplicate documents.
                let end = (at + rng.below(200)).min(out.len());
                let slice = out[at..end].to_vec();
                for _ in 0..rng.below(50) {
                    out.splice(at..at, slice.iter().copied());
                }
            }
            4 => {
                // Nest deep.
                let depth = 1 + rng.below(300);
                let (open, close) = if rng.below(2) == 0 {
                    (b"[", b"]")
                } else {
                    (b"{", b"}")
                };
                let mut nested = open.repeat(depth);
                nested.extend(close.repeat(depth));
                out.splice(at..at, nested);
            }
            5 => out.truncate(at),
            6 => {
                // Replace a number with an extreme one.
                if let Some(digit) = out.iter().skip(at).position(u8::is_ascii_digit) {
                    let piece = PIECES[17 + rng.below(6)];
                    let start = at + digit;
                    out.splice(start..start + 1, piece.iter().copied());
                }
            }
            _ => {
                let piece = PIECES[rng.below(PIECES.len())];
                out.extend_from_slice(piece);
            }
        }
        out.truncate(256 * 1024);
    }
    out
}

/// Everything a revision goes through; returns how many objects came out valid.
fn process(name: &str, bytes: Vec<u8>) -> usize {
    let Ok(text) = decode(name, bytes, DEFAULT_MAX_FILE_SIZE) else {
        return 0;
    };
    let parsed = parse_files(vec![(name.to_string(), text.clone())]);
    for diagnostic in &parsed.diagnostics {
        let _ = diagnostic.to_string();
    }
    if parsed.errors() > 0 {
        // Also a file alone, as `parse_file` reads it.
        let _ = parse_file(name, &text);
        return 0;
    }
    let desired = Desired::from_manifests(&parsed.manifests, "us-east-1", Owner::new("fuzz"));
    let _ = format!("{desired:?}");
    // The plan of a valid revision against an empty account: every object to create.
    let planned = plan(&desired, &Observed::default(), Prune::On);
    assert_eq!(planned.objects.len(), parsed.manifests.len(), "{text}");
    parsed.manifests.len()
}

#[test]
fn thousands_of_mutated_manifests_give_diagnostics_never_a_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x5eed_0fec_5617_05ab);
    let mut valid = 0;
    let mut invalid = 0;
    for case in 0..CASES {
        let (name, seed) = &seeds[rng.below(seeds.len())];
        let mutated = mutate(&mut rng, seed);
        // Half as JSON, half as YAML, whatever the seed was.
        let name = if case % 2 == 0 {
            name.replace(".yaml", ".json")
        } else {
            name.replace(".json", ".yaml")
        };
        let result = std::panic::catch_unwind(|| process(&name, mutated.clone()));
        match result {
            Ok(0) => invalid += 1,
            Ok(_) => valid += 1,
            Err(_) => panic!(
                "case {case} ({name}) panicked on:\n{}",
                String::from_utf8_lossy(&mutated)
            ),
        }
    }
    eprintln!("{CASES} mutated manifests: {valid} valid, {invalid} invalid");
    // The mutations are hostile, not hopeless: some survive as valid manifests.
    assert!(
        valid > 0 && invalid > CASES / 2,
        "{valid} valid, {invalid} invalid"
    );
}
