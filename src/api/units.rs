//! Task sizes as ECS reads them: CPU units or vCPUs, MiB or GB, and the sizes Fargate offers.

/// CPU units from `"256"`, `"0.25 vCPU"`, `"1 vcpu"` or `".5vcpu"`; `None` when unreadable.
pub fn cpu_units(text: &str) -> Option<u32> {
    parse_size(text, &["vcpu"], 1024.0)
}

/// MiB from `"512"`, `"1 GB"`, `".5 gb"` or `"2GB"`; `None` when unreadable.
pub fn memory_mib(text: &str) -> Option<u32> {
    parse_size(text, &["gb", "gib"], 1024.0)
}

fn parse_size(text: &str, units: &[&str], per_unit: f64) -> Option<u32> {
    let lower = text.trim().to_lowercase();
    if let Ok(plain) = lower.parse::<u32>() {
        return Some(plain);
    }
    let number = units
        .iter()
        .find_map(|unit| lower.strip_suffix(unit))?
        .trim();
    let value: f64 = number.parse().ok()?;
    let scaled = value * per_unit;
    (value > 0.0 && scaled.fract() == 0.0 && scaled <= f64::from(u32::MAX)).then_some(scaled as u32)
}

/// The memory sizes (MiB) Fargate offers for a CPU size, or `None` for a CPU size it lacks.
pub fn fargate_memory_options(cpu: u32) -> Option<Vec<u32>> {
    let gib = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).map(|g| g * 1024);
    let options: Vec<u32> = match cpu {
        256 => vec![512, 1024, 2048],
        512 => gib(1, 4, 1).collect(),
        1024 => gib(2, 8, 1).collect(),
        2048 => gib(4, 16, 1).collect(),
        4096 => gib(8, 30, 1).collect(),
        8192 => gib(16, 60, 4).collect(),
        16384 => gib(32, 120, 8).collect(),
        _ => return None,
    };
    Some(options)
}

pub const FARGATE_CPU_SIZES: &[u32] = &[256, 512, 1024, 2048, 4096, 8192, 16384];

/// Memory sizes as people read them: `512`, `1024–4096 in steps of 1024`, ….
pub fn describe_sizes(sizes: &[u32]) -> String {
    match sizes {
        [a, b, c] if sizes.len() == 3 && b - a != c - b => format!("{a}, {b}, {c}"),
        [first, second, .., last] => format!("{first}–{last} in steps of {}", second - first),
        _ => sizes
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_unit_strings_ecs_accepts() {
        assert_eq!(cpu_units("256"), Some(256));
        assert_eq!(cpu_units("0.25 vCPU"), Some(256));
        assert_eq!(cpu_units("1 vcpu"), Some(1024));
        assert_eq!(cpu_units(".5vcpu"), Some(512));
        assert_eq!(memory_mib("1 GB"), Some(1024));
        assert_eq!(memory_mib(".5 gb"), Some(512));
        assert_eq!(memory_mib("2GB"), Some(2048));
        assert_eq!(memory_mib("512"), Some(512));
        assert_eq!(memory_mib("lots"), None);
        assert_eq!(cpu_units("0.3 vcpu"), None);
        assert_eq!(cpu_units("-1 vcpu"), None);
    }

    #[test]
    fn fargate_table_matches_the_ecs_docs() {
        assert_eq!(fargate_memory_options(256).unwrap(), vec![512, 1024, 2048]);
        assert_eq!(
            fargate_memory_options(512).unwrap(),
            vec![1024, 2048, 3072, 4096]
        );
        let big = fargate_memory_options(8192).unwrap();
        assert_eq!(
            (big[0], big[1], *big.last().unwrap()),
            (16384, 20480, 61440)
        );
        let huge = fargate_memory_options(16384).unwrap();
        assert_eq!(
            (huge[0], huge[1], *huge.last().unwrap()),
            (32768, 40960, 122880)
        );
        assert!(fargate_memory_options(300).is_none());
        assert_eq!(describe_sizes(&[512, 1024, 2048]), "512, 1024, 2048");
        assert_eq!(
            describe_sizes(&[1024, 2048, 3072, 4096]),
            "1024–4096 in steps of 1024"
        );
    }
}
