//! The CustomResourceDefinitions, generated from the types; `crds/` holds their YAML.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kube::CustomResourceExt;

use super::{EcsCapacityProvider, EcsCluster, EcsService, EcsTaskDefinition};

/// The CRDs, as `kubectl apply` takes them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut service = EcsService::crd();
    allow_string_or_inline_task_definition(&mut service);
    vec![
        EcsCapacityProvider::crd(),
        EcsCluster::crd(),
        EcsTaskDefinition::crd(),
        service,
    ]
}

/// File name and YAML of each CRD, as kept in `crds/`.
pub fn crd_files() -> Vec<(String, String)> {
    crds()
        .into_iter()
        .map(|crd| {
            let name = format!(
                "{}.yaml",
                crd.spec.names.singular.clone().unwrap_or_default()
            );
            let yaml = serde_saphyr::to_string(&crd).expect("CRDs serialize");
            (name, yaml)
        })
        .collect()
}

/// `spec.taskDefinition` (and a pre-deploy task's) is a string or an inline task definition.
/// A structural schema cannot say "string or object", so the API server keeps the value as
/// is and the controller validates it with the full schema (`kubectl explain
/// ecstaskdefinition.spec` documents the inline form).
fn allow_string_or_inline_task_definition(crd: &mut CustomResourceDefinition) {
    for version in &mut crd.spec.versions {
        let Some(spec) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("spec"))
        else {
            continue;
        };
        keep_as_is(spec.properties.as_mut(), "taskDefinition");
        let pre_deploy = spec
            .properties
            .as_mut()
            .and_then(|p| p.get_mut("rollout"))
            .and_then(|r| r.properties.as_mut())
            .and_then(|p| p.get_mut("preDeploy"))
            .and_then(|p| p.items.as_mut());
        if let Some(JSONSchemaPropsOrArray::Schema(item)) = pre_deploy {
            keep_as_is(item.properties.as_mut(), "taskDefinition");
        }
    }
}

fn keep_as_is(properties: Option<&mut BTreeMap<String, JSONSchemaProps>>, name: &str) {
    if let Some(field) = properties.and_then(|p| p.get_mut(name)) {
        *field = JSONSchemaProps {
            description: field.description.take(),
            x_kubernetes_preserve_unknown_fields: Some(true),
            ..JSONSchemaProps::default()
        };
    }
}
