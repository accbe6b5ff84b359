//! The accounts' roles: the credentials of each configured account, assumed through STS with
//! the controller's own.

use std::collections::HashMap;

use aws_config::sts::AssumeRoleProvider;
use aws_sdk_ecs::config::{Region, SharedCredentialsProvider};

use crate::api::Accounts;

/// The role session name the account's CloudTrail shows for the controller's calls.
const SESSION_NAME: &str = "ecs-gitops";

/// One credentials provider per configured account: its role, assumed with the default
/// credentials through STS (in the default region; `AWS_ENDPOINT_URL_STS` is honoured). Nothing
/// is called until an object of the account needs ECS.
pub async fn assume_roles(
    base: &aws_config::SdkConfig,
    accounts: &Accounts,
    region: &str,
) -> HashMap<String, SharedCredentialsProvider> {
    let mut roles = HashMap::new();
    for account in accounts.iter() {
        let mut role = AssumeRoleProvider::builder(&account.role_arn)
            .session_name(SESSION_NAME)
            .region(Region::new(region.to_string()))
            .configure(base);
        if let Some(external_id) = &account.external_id {
            role = role.external_id(external_id);
        }
        let provider = SharedCredentialsProvider::new(role.build().await);
        roles.insert(account.name.clone(), provider);
    }
    roles
}
