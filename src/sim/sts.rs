//! STS `AssumeRole`, as much of it as the AWS SDKs' assume-role credential providers use: the
//! query protocol (a form-encoded POST) answered in XML. The access key id it issues names
//! the role's account, so that the ECS calls signed with it land in that account's state.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::state::{DEFAULT_ACCOUNT, Ids};

/// How long issued credentials last: STS's default session.
const SESSION: Duration = Duration::from_secs(3600);
/// Temporary credentials' access key ids start so; the simulator's go on with the account.
const TEMPORARY: &str = "ASIA";
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Roles configured (`POST /_sim/roles`) to need an external id: role ARN → external id.
pub type Roles = HashMap<String, String>;

/// The account of calls signed with `access_key_id`: the assumed role's, else the default.
pub fn account_of(access_key_id: &str) -> &str {
    access_key_id
        .strip_prefix(TEMPORARY)
        .and_then(|rest| rest.get(..12))
        .filter(|id| id.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or(DEFAULT_ACCOUNT)
}

/// An STS error: its HTTP status, code and message.
#[derive(Debug)]
pub struct StsError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl StsError {
    fn invalid(message: impl Into<String>) -> StsError {
        StsError {
            status: 400,
            code: "ValidationError",
            message: message.into(),
        }
    }

    /// The query protocol's error document.
    pub fn body(&self) -> String {
        let kind = if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        };
        format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>",
            self.code,
            escape(&self.message)
        )
    }
}

/// Answers one STS request (its form fields): `AssumeRole`, or an error.
pub fn call(
    form: &HashMap<String, String>,
    roles: &Roles,
    ids: &mut Ids,
) -> Result<String, StsError> {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("Action") != "AssumeRole" {
        return Err(StsError {
            status: 400,
            code: "InvalidAction",
            message: format!(
                "Could not find operation {} for version 2011-06-15",
                field("Action")
            ),
        });
    }
    let role_arn = field("RoleArn");
    let (account, role) = parse_role(role_arn)?;
    let session = field("RoleSessionName");
    let session_ok = (2..=64).contains(&session.len())
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !session_ok {
        return Err(StsError::invalid(format!(
            "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint"
        )));
    }
    if let Some(required) = roles.get(role_arn)
        && form.get("ExternalId") != Some(required)
    {
        return Err(StsError {
            status: 403,
            code: "AccessDenied",
            message: format!(
                "User: arn:aws:iam::{DEFAULT_ACCOUNT}:user/simulator is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            ),
        });
    }
    Ok(issue(account, role, session, ids))
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` → (ACCOUNT, NAME).
fn parse_role(arn: &str) -> Result<(&str, &str), StsError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts[..] {
        ["arn", _, "iam", "", account, resource]
            if account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()) =>
        {
            let name = resource
                .strip_prefix("role/")
                .and_then(|path| path.rsplit('/').next())
                .filter(|name| !name.is_empty())
                .ok_or_else(|| StsError::invalid(format!("{arn} is not a role ARN")))?;
            Ok((account, name))
        }
        _ => Err(StsError::invalid(format!(
            "1 validation error detected: Value '{arn}' at 'roleArn' failed to satisfy constraint"
        ))),
    }
}

/// New credentials for the role. The secret and the token carry a marker (`simsecret`,
/// `simsession`), so that a test can prove no log line ever holds them.
fn issue(account: &str, role: &str, session: &str, ids: &mut Ids) -> String {
    let access_key_id = format!("{TEMPORARY}{account}{}", ids.hex(4).to_uppercase());
    let secret = format!("simsecret{}", ids.hex(31));
    let token = format!("simsession{}", ids.hex(64));
    let expiration = DateTime::from(SystemTime::now() + SESSION)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    let role_id = format!("AROA{}", ids.hex(17).to_uppercase());
    format!(
        "<AssumeRoleResponse xmlns=\"{NAMESPACE}\"><AssumeRoleResult>\
         <Credentials><AccessKeyId>{access_key_id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>\
         <SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
         <AssumedRoleUser><AssumedRoleId>{role_id}:{session}</AssumedRoleId>\
         <Arn>arn:aws:sts::{account}:assumed-role/{role}/{session}</Arn></AssumedRoleUser>\
         </AssumeRoleResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></AssumeRoleResponse>",
        ids.uuid()
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

    fn form(fields: &[(&str, &str)]) -> HashMap<String, String> {
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const ROLE: &str = "arn:aws:iam::111111111111:role/deploy/ecs-gitops";

    #[test]
    fn assumed_credentials_sign_into_the_roles_account() {
        let mut ids = Ids::default();
        let request = form(&[
            ("Action", "AssumeRole"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "ecs-gitops"),
        ]);
        let xml = call(&request, &Roles::new(), &mut ids).unwrap();
        let key = xml
            .split("<AccessKeyId>")
            .nth(1)
            .and_then(|k| k.split('<').next())
            .unwrap();
        assert_eq!(key.len(), 20);
        assert_eq!(account_of(key), "111111111111");
        assert_eq!(account_of("AKIDEXAMPLE"), DEFAULT_ACCOUNT);
        assert!(
            xml.contains("<Arn>arn:aws:sts::111111111111:assumed-role/ecs-gitops/ecs-gitops</Arn>"),
            "{xml}"
        );
        assert!(xml.contains("<Expiration>20"), "{xml}");
    }

    #[test]
    fn a_role_that_needs_an_external_id_refuses_a_wrong_one() {
        let mut ids = Ids::default();
        let roles = Roles::from([(ROLE.to_string(), "right".to_string())]);
        let with = |external_id: &str| {
            let mut request = form(&[
                ("Action", "AssumeRole"),
                ("RoleArn", ROLE),
                ("RoleSessionName", "s1"),
            ]);
            if !external_id.is_empty() {
                request.insert("ExternalId".into(), external_id.into());
            }
            request
        };
        for wrong in ["", "wrong"] {
            let refused = call(&with(wrong), &roles, &mut ids).unwrap_err();
            assert_eq!((refused.status, refused.code), (403, "AccessDenied"));
            assert!(refused.body().contains("<Code>AccessDenied</Code>"));
        }
        assert!(call(&with("right"), &roles, &mut ids).is_ok());
        let bad = form(&[
            ("Action", "AssumeRole"),
            ("RoleArn", "arn:aws:iam::1:role/x"),
        ]);
        assert_eq!(
            call(&bad, &roles, &mut ids).unwrap_err().code,
            "ValidationError"
        );
    }
}
