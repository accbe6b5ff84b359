//! Which object a status, an event, a metric or a message is about: its kind, namespace (empty
//! in Git mode) and name, as one typed key.

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    EcsCapacityProvider,
    EcsCluster,
    EcsTaskDefinition,
    EcsService,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EcsCapacityProvider => "EcsCapacityProvider",
            Kind::EcsCluster => "EcsCluster",
            Kind::EcsTaskDefinition => "EcsTaskDefinition",
            Kind::EcsService => "EcsService",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: Kind,
    /// Empty in Git mode: a source has no namespaces.
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// An ECS service that no object of the source names any more (to prune): named by its
    /// cluster and name (a `/` no object or ECS service name can hold).
    pub fn pruned_service(cluster: &str, name: &str) -> ObjectKey {
        ObjectKey::new(Kind::EcsService, "", &format!("{cluster}/{name}"))
    }

    fn is_pruned_service(&self) -> bool {
        self.kind == Kind::EcsService && self.namespace.is_empty() && self.name.contains('/')
    }
}

/// `Kind/name`, or `Kind/namespace/name` for a Kubernetes object; `service cluster/name`
/// for an ECS service without an object.
impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_pruned_service() {
            write!(f, "service {}", self.name)
        } else if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl Serialize for ObjectKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_people_name_objects() {
        let git = ObjectKey::new(Kind::EcsService, "", "web");
        let crd = ObjectKey::new(Kind::EcsService, "team-a", "web");
        assert_eq!(git.to_string(), "EcsService/web");
        assert_eq!(crd.to_string(), "EcsService/team-a/web");
        assert_eq!(serde_json::to_value(&crd).unwrap(), "EcsService/team-a/web");
        assert_ne!(git, crd);
        assert_eq!(
            ObjectKey::pruned_service("c1", "old").to_string(),
            "service c1/old"
        );
    }
}
