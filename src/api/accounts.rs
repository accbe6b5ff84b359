//! The AWS accounts the controller may work in: the people who install it list them (a name,
//! the role to assume, optionally an external id and the regions allowed), and an object
//! chooses one by name with `spec.account`. A manifest never names a role itself.
//!
//! ```text
//! accounts file ──parse──► Accounts ──check(manifests)──► diagnostics (spec.account, spec.region)
//! object's spec.account + spec.region ──► AccountRegion: which credentials, client and budget
//! ```

use std::fmt;

use super::check::nearest;
use super::diagnostic::{Diagnostic, Severity};
use super::manifest::Manifest;
use super::yaml::{Node, Pos, Value, parse_documents};

/// Where an object lives in AWS: an account of the accounts file (none: the controller's
/// own credentials) and a region. ECS keeps each one's resources and throttling apart.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountRegion {
    pub account: Option<String>,
    pub region: String,
}

impl AccountRegion {
    /// The place an object names, with the controller's default region where it names none.
    pub fn resolve(
        account: Option<&str>,
        region: Option<&str>,
        default_region: &str,
    ) -> AccountRegion {
        AccountRegion {
            account: account.map(str::to_string),
            region: region.unwrap_or(default_region).to_string(),
        }
    }

    /// The account's name, or `""` for the default credentials (a metric label).
    pub fn account_name(&self) -> &str {
        self.account.as_deref().unwrap_or_default()
    }
}

/// A region of the controller's own credentials.
impl From<&str> for AccountRegion {
    fn from(region: &str) -> AccountRegion {
        AccountRegion::resolve(None, Some(region), region)
    }
}

/// `us-east-1`, or `us-east-1 of account prod`.
impl fmt::Display for AccountRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.account {
            None => f.write_str(&self.region),
            Some(account) => write!(f, "{} of account {account}", self.region),
        }
    }
}

/// One account of the accounts file.
#[derive(Clone, PartialEq)]
pub struct Account {
    pub name: String,
    /// The role the controller assumes to work in the account.
    pub role_arn: String,
    /// The external id the role's trust policy asks for.
    pub external_id: Option<String>,
    /// The regions objects of this account may use; empty: any.
    pub regions: Vec<String>,
}

/// The external id stays out of logs and panics.
impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("role_arn", &self.role_arn)
            .field("external_id", &self.external_id.as_ref().map(|_| "***"))
            .field("regions", &self.regions)
            .finish()
    }
}

/// The accounts file: which accounts objects may name, and the file they came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accounts {
    file: String,
    accounts: Vec<Account>,
}

const FIELDS: &[&str] = &["name", "roleArn", "externalId", "regions"];

impl Accounts {
    /// Reads an accounts file: a YAML list of `{name, roleArn, externalId?, regions?}`. Every
    /// problem is reported with its line, column and field.
    pub fn parse(file: &str, text: &str) -> Result<Accounts, Vec<Diagnostic>> {
        let mut reader = Reader {
            file,
            problems: Vec::new(),
        };
        let docs = match parse_documents(text) {
            Ok(docs) => docs,
            Err(e) => {
                reader.error(e.pos, "", format!("invalid YAML: {}", e.message));
                return Err(reader.problems);
            }
        };
        if let Some(extra) = docs.get(1) {
            reader.error(extra.pos, "", "one document expected: a list of accounts");
        }
        let items: &[Node] = match docs.first().map(|d| &d.value) {
            None | Some(Value::Null) => &[],
            Some(Value::Seq(items)) => items,
            Some(_) => {
                let doc = &docs[0];
                let found = doc.type_name();
                reader.error(
                    doc.pos,
                    "",
                    format!("expected a list of accounts (- name: …, roleArn: …), got a {found}"),
                );
                &[]
            }
        };
        let mut accounts: Vec<Account> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(name) = item.get("name").filter(|n| n.as_str().is_some()) {
                let text = name.as_str().unwrap_or_default();
                if names.contains(&text) {
                    let message = format!("account \"{text}\" is listed twice");
                    reader.error(name.pos, &format!("[{i}].name"), message);
                }
                names.push(text);
            }
            accounts.extend(reader.account(&format!("[{i}]"), item));
        }
        reader.problems.sort_by_key(|d| (d.line, d.column));
        if reader.problems.is_empty() {
            Ok(Accounts {
                file: file.to_string(),
                accounts,
            })
        } else {
            Err(reader.problems)
        }
    }

    pub fn get(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter()
    }

    fn names(&self) -> Vec<&str> {
        self.accounts.iter().map(|a| a.name.as_str()).collect()
    }

    /// Objects may only name configured accounts, and those accounts' regions. An object
    /// without `region` is checked against `default_region` when it is known (it is not in
    /// `validate`).
    pub fn check(&self, manifests: &[Manifest], default_region: Option<&str>) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        for manifest in manifests {
            let Some(name) = manifest.object.account() else {
                continue;
            };
            let Some(account) = self.get(name) else {
                problems.push(located(manifest, "spec.account", self.unknown(name)));
                continue;
            };
            if account.regions.is_empty() {
                continue;
            }
            let allowed = account.regions.join(", ");
            match (manifest.object.region(), default_region) {
                (Some(region), _) if !account.regions.iter().any(|r| r == region) => {
                    let message = format!(
                        "region \"{region}\" is not allowed for account \"{name}\": its regions are {allowed}"
                    );
                    problems.push(located(manifest, "spec.region", message));
                }
                (None, Some(default)) if !account.regions.iter().any(|r| r == default) => {
                    let message = format!(
                        "account \"{name}\" allows the regions {allowed}, not the default region {default}: set spec.region"
                    );
                    problems.push(located(manifest, "spec.account", message));
                }
                _ => {}
            }
        }
        problems
    }

    /// Why `name` cannot be used, and what can.
    fn unknown(&self, name: &str) -> String {
        let names = self.names();
        if names.is_empty() {
            return format!(
                "account \"{name}\" is not configured: no accounts file was given (the controller's --accounts FILE names the accounts and the roles it may assume)"
            );
        }
        let mut message = format!(
            "account \"{name}\" is not configured: the accounts file {} names {}",
            self.file,
            names.join(", ")
        );
        if let Some(near) = nearest(name, &names) {
            message.push_str(&format!("; did you mean \"{near}\"?"));
        }
        message
    }
}

fn located(manifest: &Manifest, field: &str, message: String) -> Diagnostic {
    manifest.diagnostic(super::check::Finding {
        severity: Severity::Error,
        field: field.into(),
        pos: Pos::default(),
        message,
    })
}

/// Collects the accounts file's problems.
struct Reader<'f> {
    file: &'f str,
    problems: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn error(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.problems.push(Diagnostic {
            severity: Severity::Error,
            file: self.file.to_string(),
            line: pos.line,
            column: pos.col,
            object: None,
            field: Some(field.to_string()).filter(|f| !f.is_empty()),
            message: message.into(),
        });
    }

    fn account(&mut self, path: &str, item: &Node) -> Option<Account> {
        let Value::Map(entries) = &item.value else {
            let found = item.type_name();
            self.error(
                item.pos,
                path,
                format!("expected an account (name, roleArn), got a {found}"),
            );
            return None;
        };
        for (key, _) in entries {
            if !FIELDS.contains(&key.name.as_str()) {
                let mut message = format!("unknown field \"{}\"", key.name);
                match nearest(&key.name, FIELDS) {
                    Some(near) => message.push_str(&format!(", did you mean \"{near}\"?")),
                    None => message.push_str(&format!(": an account has {}", FIELDS.join(", "))),
                }
                self.error(key.pos, &format!("{path}.{}", key.name), message);
            }
        }
        let before = self.problems.len();
        let name = self.text(item, path, "name", valid_name);
        let role_arn = self.text(item, path, "roleArn", valid_role_arn);
        let external_id = match item.get("externalId") {
            Some(_) => self.text(item, path, "externalId", valid_external_id),
            None => None,
        };
        let regions = self.regions(item, path);
        if self.problems.len() > before {
            return None;
        }
        Some(Account {
            name: name?,
            role_arn: role_arn?,
            external_id,
            regions,
        })
    }

    /// A required string field, checked by `valid` (which says what is wrong).
    fn text(
        &mut self,
        item: &Node,
        path: &str,
        field: &str,
        valid: fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let at = format!("{path}.{field}");
        let Some(node) = item.get(field) else {
            self.error(item.pos, &at, format!("missing required field \"{field}\""));
            return None;
        };
        let Some(text) = node.as_str() else {
            let found = node.type_name();
            self.error(node.pos, &at, format!("expected a string, got a {found}"));
            return None;
        };
        match valid(text) {
            Ok(()) => Some(text.to_string()),
            Err(message) => {
                self.error(node.pos, &at, message);
                None
            }
        }
    }

    fn regions(&mut self, item: &Node, path: &str) -> Vec<String> {
        let at = format!("{path}.regions");
        let Some(node) = item.get("regions") else {
            return Vec::new();
        };
        let Value::Seq(entries) = &node.value else {
            let found = node.type_name();
            let message = format!("expected a list of regions (e.g. [eu-west-1]), got a {found}");
            self.error(node.pos, &at, message);
            return Vec::new();
        };
        let mut regions: Vec<String> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("{at}[{i}]");
            match entry.as_str() {
                Some(region) if regions.iter().any(|r| r == region) => self.error(
                    entry.pos,
                    &at,
                    format!("region \"{region}\" is listed twice"),
                ),
                Some(region) if looks_like_region(region) => regions.push(region.to_string()),
                _ => self.error(
                    entry.pos,
                    &at,
                    "expected an AWS region such as eu-west-1 or us-east-1",
                ),
            }
        }
        regions
    }
}

/// Names appear in objects, status and metric labels: letters, digits, `.`, `_`, `-`.
fn valid_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not an account name: use 1 to 64 letters, digits, '.', '_' or '-'"
        ))
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`, as STS takes it.
fn valid_role_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = matches!(
        parts[..],
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty())
    );
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{arn}\" is not an IAM role ARN: expected arn:aws:iam::123456789012:role/NAME"
        ))
    }
}

/// STS's limits on `ExternalId`. The value itself is never repeated: it guards the role.
fn valid_external_id(id: &str) -> Result<(), String> {
    let ok = (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err("not an external id STS accepts: 2 to 1224 letters, digits or +=,.@:/-_".into())
    }
}

/// `eu-west-1`, `us-gov-west-1`, `ap-southeast-3`.
fn looks_like_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        Accounts::parse("accounts.yaml", text)
            .expect_err("invalid")
            .iter()
            .map(Diagnostic::to_string)
            .collect()
    }

    #[test]
    fn a_good_file_gives_each_account() {
        let text = "- name: prod\n  roleArn: arn:aws:iam::111111111111:role/ecs-gitops\n  externalId: k3y-0f-prod\n  regions: [eu-west-1, us-east-1]\n- name: dev\n  roleArn: arn:aws:iam::222222222222:role/deploy/ecs-gitops\n";
        let accounts = Accounts::parse("accounts.yaml", text).unwrap();
        let prod = accounts.get("prod").unwrap();
        assert_eq!(prod.role_arn, "arn:aws:iam::111111111111:role/ecs-gitops");
        assert_eq!(prod.external_id.as_deref(), Some("k3y-0f-prod"));
        assert_eq!(prod.regions, ["eu-west-1", "us-east-1"]);
        assert!(accounts.get("dev").unwrap().regions.is_empty());
        assert!(accounts.get("staging").is_none());
        assert!(!format!("{prod:?}").contains("k3y"), "{prod:?}");
        assert_eq!(Accounts::parse("a.yaml", "").unwrap().iter().count(), 0);
    }

    #[test]
    fn every_problem_is_located() {
        let text = "- name: prod\n  roleArn: arn:aws:iam::1111:role/x\n  region: [eu-west-1]\n- name: prod\n  roleArn: arn:aws:iam::111111111111:role/x\n- roleArn: arn:aws:iam::111111111111:role/x\n  externalId: \"x\"\n  regions: [eu-west-1, EU-WEST-1, eu-west-1]\n- just a string\n";
        assert_eq!(
            problems(text),
            [
                "accounts.yaml:2:12: [0].roleArn: \"arn:aws:iam::1111:role/x\" is not an IAM role ARN: expected arn:aws:iam::123456789012:role/NAME",
                "accounts.yaml:3:3: [0].region: unknown field \"region\", did you mean \"regions\"?",
                "accounts.yaml:4:9: [1].name: account \"prod\" is listed twice",
                "accounts.yaml:6:3: [2].name: missing required field \"name\"",
                "accounts.yaml:7:15: [2].externalId: not an external id STS accepts: 2 to 1224 letters, digits or +=,.@:/-_",
                "accounts.yaml:8:24: [2].regions[1]: expected an AWS region such as eu-west-1 or us-east-1",
                "accounts.yaml:8:35: [2].regions[2]: region \"eu-west-1\" is listed twice",
                "accounts.yaml:9:3: [3]: expected an account (name, roleArn), got a string",
            ]
        );
    }

    #[test]
    fn the_file_is_a_list() {
        assert_eq!(
            problems("prod:\n  roleArn: arn:aws:iam::111111111111:role/x\n"),
            [
                "accounts.yaml:1:1: expected a list of accounts (- name: …, roleArn: …), got a mapping"
            ]
        );
        assert_eq!(
            problems("- name: [prod\n"),
            ["accounts.yaml:2:1: invalid YAML: while parsing a flow sequence, expected ',' or ']'"]
        );
        assert_eq!(
            problems(
                "- {name: p, roleArn: arn:aws:iam::111111111111:role/x, regions: eu-west-1}\n"
            ),
            [
                "accounts.yaml:1:65: [0].regions: expected a list of regions (e.g. [eu-west-1]), got a string"
            ]
        );
    }

    fn cluster(name: &str, spec: &str) -> String {
        format!(
            "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: {name}\nspec:\n{spec}---\n"
        )
    }

    #[test]
    fn objects_name_only_configured_accounts_and_their_regions() {
        let accounts = Accounts::parse(
            "accounts.yaml",
            "- {name: prod, roleArn: arn:aws:iam::111111111111:role/x, regions: [eu-west-1]}\n- {name: dev, roleArn: arn:aws:iam::222222222222:role/x}\n",
        )
        .unwrap();
        let text = [
            cluster("typo", "  account: prd\n"),
            cluster("elsewhere", "  account: prod\n  region: us-east-1\n"),
            cluster("implicit", "  account: prod\n"),
            cluster("anywhere", "  account: dev\n  region: ap-south-1\n"),
            cluster("default", "  region: us-east-1\n"),
        ]
        .concat();
        let parsed = crate::api::parse_file("c.yaml", &text);
        assert_eq!(parsed.errors(), 0, "{:?}", parsed.diagnostics);
        let check = |accounts: &Accounts, default| -> Vec<String> {
            let found = accounts.check(&parsed.manifests, default);
            found.iter().map(Diagnostic::to_string).collect()
        };
        assert_eq!(
            check(&accounts, Some("us-east-1")),
            [
                "c.yaml:6:3: EcsCluster/typo: spec.account: account \"prd\" is not configured: the accounts file accounts.yaml names prod, dev; did you mean \"prod\"?",
                "c.yaml:14:3: EcsCluster/elsewhere: spec.region: region \"us-east-1\" is not allowed for account \"prod\": its regions are eu-west-1",
                "c.yaml:21:3: EcsCluster/implicit: spec.account: account \"prod\" allows the regions eu-west-1, not the default region us-east-1: set spec.region",
            ]
        );
        assert_eq!(
            check(&accounts, None).len(),
            2,
            "validate knows no default region"
        );
        assert_eq!(
            check(&Accounts::default(), None)[0],
            "c.yaml:6:3: EcsCluster/typo: spec.account: account \"prd\" is not configured: no accounts file was given (the controller's --accounts FILE names the accounts and the roles it may assume)"
        );
    }

    #[test]
    fn places_read_as_people_say_them() {
        let default = AccountRegion::resolve(None, None, "us-east-1");
        assert_eq!(default.to_string(), "us-east-1");
        assert_eq!(default.account_name(), "");
        let prod = AccountRegion::resolve(Some("prod"), Some("eu-west-1"), "us-east-1");
        assert_eq!(prod.to_string(), "eu-west-1 of account prod");
        assert_ne!(
            prod,
            AccountRegion::resolve(None, Some("eu-west-1"), "us-east-1")
        );
    }
}
