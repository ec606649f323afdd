//! A container's environment, resolved as a kubelet does it: `envFrom` first (in order, with
//! its prefix), then `env` in order; each `env` value has `$(VAR)` expanded against what was
//! defined before it. The ConfigMaps and Secrets are fetched beforehand ([`Sources`]), so the
//! resolution itself is pure and unit-tested.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVarSource, Pod};

/// `$(VAR)` expansion with Kubernetes semantics (`third_party/forked/golang/expansion`):
/// `$$` is an escaped `$`, a reference to an undefined variable stays as written, and an
/// unterminated `$(` is kept literally.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after.chars().next() {
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after.find(')') {
                Some(close) => {
                    let name = &after[1..close];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(other) => {
                out.push('$');
                out.push(other);
                rest = &after[other.len_utf8()..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Why a container's environment cannot be built; reported as `CreateContainerConfigError`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvError {
    #[error("configmap {0:?} not found")]
    ConfigMapMissing(String),
    #[error("couldn't find key {key} in ConfigMap {name}")]
    ConfigMapKeyMissing { name: String, key: String },
    #[error("secret {0:?} not found")]
    SecretMissing(String),
    #[error("couldn't find key {key} in Secret {name}")]
    SecretKeyMissing { name: String, key: String },
    #[error(
        "key {key} in Secret {name} is not UTF-8 text, so it cannot be an environment variable"
    )]
    SecretNotText { name: String, key: String },
    #[error("env {name}: fieldRef {path:?} is not supported")]
    UnsupportedFieldPath { name: String, path: String },
    #[error("env {name}: only value, fieldRef, configMapKeyRef and secretKeyRef are supported")]
    UnsupportedSource { name: String },
}

/// The ConfigMaps and Secrets a pod refers to, by name; `None` for one that does not exist.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub config_maps: BTreeMap<String, Option<BTreeMap<String, String>>>,
    pub secrets: BTreeMap<String, Option<BTreeMap<String, Vec<u8>>>>,
}

/// Names of the ConfigMaps and Secrets the containers' environments refer to.
pub fn referenced_names<'a>(
    containers: impl IntoIterator<Item = &'a Container>,
) -> (Vec<String>, Vec<String>) {
    let mut config_maps = Vec::new();
    let mut secrets = Vec::new();
    for container in containers {
        for from in container.env_from.iter().flatten() {
            if let Some(c) = &from.config_map_ref {
                config_maps.push(c.name.clone());
            }
            if let Some(s) = &from.secret_ref {
                secrets.push(s.name.clone());
            }
        }
        for var in container.env.iter().flatten() {
            if let Some(source) = &var.value_from {
                if let Some(c) = &source.config_map_key_ref {
                    config_maps.push(c.name.clone());
                }
                if let Some(s) = &source.secret_key_ref {
                    secrets.push(s.name.clone());
                }
            }
        }
    }
    config_maps.sort();
    config_maps.dedup();
    secrets.sort();
    secrets.dedup();
    (config_maps, secrets)
}

/// The values `fieldRef` can read; the pod IP is the one this node gave the pod.
#[derive(Debug, Clone)]
pub struct PodFields<'a> {
    pub pod: &'a Pod,
    pub pod_ip: String,
    pub host_ip: String,
}

impl PodFields<'_> {
    fn get(&self, path: &str) -> Option<String> {
        let meta = &self.pod.metadata;
        let spec = self.pod.spec.as_ref();
        let quoted_key = |prefix: &str| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix("']"))
                .map(str::to_owned)
        };
        match path {
            "metadata.name" => meta.name.clone(),
            "metadata.namespace" => meta.namespace.clone(),
            "metadata.uid" => meta.uid.clone(),
            "spec.nodeName" => spec.and_then(|s| s.node_name.clone()),
            "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()),
            "status.podIP" | "status.podIPs" => Some(self.pod_ip.clone()),
            "status.hostIP" | "status.hostIPs" => Some(self.host_ip.clone()),
            _ => {
                if let Some(key) = quoted_key("metadata.labels['") {
                    Some(meta.labels.as_ref()?.get(&key).cloned().unwrap_or_default())
                } else if let Some(key) = quoted_key("metadata.annotations['") {
                    Some(
                        meta.annotations
                            .as_ref()?
                            .get(&key)
                            .cloned()
                            .unwrap_or_default(),
                    )
                } else {
                    None
                }
            }
        }
    }
}

/// The container's environment, in definition order (a later definition of a name wins, as
/// in Kubernetes).
pub fn resolve(
    container: &Container,
    fields: &PodFields<'_>,
    sources: &Sources,
) -> Result<Vec<(String, String)>, EnvError> {
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, name: String, value: String| {
        env.retain(|(n, _)| *n != name);
        env.push((name, value));
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(c) = &from.config_map_ref {
            match sources.config_maps.get(&c.name).cloned().flatten() {
                Some(data) => {
                    for (key, value) in data {
                        set(&mut env, format!("{prefix}{key}"), value);
                    }
                }
                None if c.optional == Some(true) => {}
                None => return Err(EnvError::ConfigMapMissing(c.name.clone())),
            }
        }
        if let Some(s) = &from.secret_ref {
            match sources.secrets.get(&s.name).cloned().flatten() {
                Some(data) => {
                    for (key, value) in data {
                        let value =
                            String::from_utf8(value).map_err(|_| EnvError::SecretNotText {
                                name: s.name.clone(),
                                key: key.clone(),
                            })?;
                        set(&mut env, format!("{prefix}{key}"), value);
                    }
                }
                None if s.optional == Some(true) => {}
                None => return Err(EnvError::SecretMissing(s.name.clone())),
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match &var.value_from {
            None => {
                let defined = env.clone();
                let lookup = |name: &str| {
                    defined
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                };
                Some(expand(var.value.as_deref().unwrap_or_default(), lookup))
            }
            Some(source) => value_from(&var.name, source, fields, sources)?,
        };
        if let Some(value) = value {
            set(&mut env, var.name.clone(), value);
        }
    }
    Ok(env)
}

/// One `valueFrom`; `None` when an optional reference is missing (the variable is left out).
fn value_from(
    name: &str,
    source: &EnvVarSource,
    fields: &PodFields<'_>,
    sources: &Sources,
) -> Result<Option<String>, EnvError> {
    if let Some(field) = &source.field_ref {
        return fields.get(&field.field_path).map(Some).ok_or_else(|| {
            EnvError::UnsupportedFieldPath {
                name: name.to_owned(),
                path: field.field_path.clone(),
            }
        });
    }
    if let Some(key_ref) = &source.config_map_key_ref {
        let optional = key_ref.optional == Some(true);
        let Some(data) = sources.config_maps.get(&key_ref.name).cloned().flatten() else {
            return if optional {
                Ok(None)
            } else {
                Err(EnvError::ConfigMapMissing(key_ref.name.clone()))
            };
        };
        return match data.get(&key_ref.key) {
            Some(value) => Ok(Some(value.clone())),
            None if optional => Ok(None),
            None => Err(EnvError::ConfigMapKeyMissing {
                name: key_ref.name.clone(),
                key: key_ref.key.clone(),
            }),
        };
    }
    if let Some(key_ref) = &source.secret_key_ref {
        let optional = key_ref.optional == Some(true);
        let Some(data) = sources.secrets.get(&key_ref.name).cloned().flatten() else {
            return if optional {
                Ok(None)
            } else {
                Err(EnvError::SecretMissing(key_ref.name.clone()))
            };
        };
        return match data.get(&key_ref.key) {
            Some(value) => {
                String::from_utf8(value.clone())
                    .map(Some)
                    .map_err(|_| EnvError::SecretNotText {
                        name: key_ref.name.clone(),
                        key: key_ref.key.clone(),
                    })
            }
            None if optional => Ok(None),
            None => Err(EnvError::SecretKeyMissing {
                name: key_ref.name.clone(),
                key: key_ref.key.clone(),
            }),
        };
    }
    Err(EnvError::UnsupportedSource {
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let cases = [
            ("$(A)", "alpha"),
            ("x-$(A)-y", "x-alpha-y"),
            ("$(A)$(A)", "alphaalpha"),
            ("$(EMPTY)", ""),
            ("$(UNDEFINED)", "$(UNDEFINED)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$alpha"),
            ("$(A", "$(A"),
            ("$A", "$A"),
            ("trailing$", "trailing$"),
            ("$()", "$()"),
            ("héllo $(A) wörld", "héllo alpha wörld"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, lookup), want, "expanding {input:?}");
        }
    }

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                         "labels": {"app": "web"}},
            "spec": {"nodeName": "local", "containers": [{"name": "c"}]}
        }))
        .unwrap()
    }

    fn container(spec: serde_json::Value) -> Container {
        serde_json::from_value(spec).unwrap()
    }

    fn sources() -> Sources {
        let mut sources = Sources::default();
        sources.config_maps.insert(
            "settings".into(),
            Some(BTreeMap::from([
                ("LEVEL".to_owned(), "debug".to_owned()),
                ("PORT".to_owned(), "8081".to_owned()),
            ])),
        );
        sources.config_maps.insert("absent".into(), None);
        sources.secrets.insert(
            "db".into(),
            Some(BTreeMap::from([(
                "password".to_owned(),
                b"s3cret".to_vec(),
            )])),
        );
        sources.secrets.insert("gone".into(), None);
        sources
    }

    fn resolved(spec: serde_json::Value) -> Result<Vec<(String, String)>, EnvError> {
        let pod = pod();
        let fields = PodFields {
            pod: &pod,
            pod_ip: "127.1.0.7".into(),
            host_ip: "127.0.0.1".into(),
        };
        resolve(&container(spec), &fields, &sources())
    }

    #[test]
    fn field_refs_config_maps_secrets_and_expansion_resolve_in_order() {
        let env = resolved(json!({
            "name": "c",
            "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "APP_"},
                        {"secretRef": {"name": "gone", "optional": true}}],
            "env": [
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}},
                {"name": "MAYBE", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "x", "optional": true}}},
                {"name": "URL", "value": "http://$(POD_IP):$(APP_PORT)/$(POD_NAME)?later=$(LATER)"},
                {"name": "LATER", "value": "defined-after-use"},
            ]
        }))
        .unwrap();
        let map: BTreeMap<_, _> = env.into_iter().collect();
        assert_eq!(map["APP_LEVEL"], "debug");
        assert_eq!(map["APP_PORT"], "8081");
        assert_eq!(map["POD_NAME"], "web-1");
        assert_eq!(map["POD_NS"], "shop");
        assert_eq!(map["POD_UID"], "u-1");
        assert_eq!(map["NODE"], "local");
        assert_eq!(map["POD_IP"], "127.1.0.7");
        assert_eq!(map["HOST_IP"], "127.0.0.1");
        assert_eq!(map["APP"], "web");
        assert_eq!(map["PASSWORD"], "s3cret");
        assert_eq!(map["LEVEL"], "debug");
        assert!(
            !map.contains_key("MAYBE"),
            "an optional missing ref is left out"
        );
        // A variable defined after the reference is not expanded (definition order).
        assert_eq!(map["URL"], "http://127.1.0.7:8081/web-1?later=$(LATER)");
    }

    #[test]
    fn a_later_definition_of_a_name_wins() {
        let env = resolved(json!({"name": "c",
            "envFrom": [{"configMapRef": {"name": "settings"}}],
            "env": [{"name": "PORT", "value": "9000"}, {"name": "X", "value": "$(PORT)"}]}))
        .unwrap();
        assert_eq!(
            env,
            vec![
                ("LEVEL".to_owned(), "debug".to_owned()),
                ("PORT".to_owned(), "9000".to_owned()),
                ("X".to_owned(), "9000".to_owned()),
            ]
        );
    }

    #[test]
    fn missing_required_references_are_errors_naming_them() {
        let cases = [
            (
                json!({"name": "c", "envFrom": [{"configMapRef": {"name": "absent"}}]}),
                EnvError::ConfigMapMissing("absent".into()),
            ),
            (
                json!({"name": "c", "envFrom": [{"secretRef": {"name": "gone"}}]}),
                EnvError::SecretMissing("gone".into()),
            ),
            (
                json!({"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "NOPE"}}}]}),
                EnvError::ConfigMapKeyMissing {
                    name: "settings".into(),
                    key: "NOPE".into(),
                },
            ),
            (
                json!({"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "user"}}}]}),
                EnvError::SecretKeyMissing {
                    name: "db".into(),
                    key: "user".into(),
                },
            ),
            (
                json!({"name": "c", "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.hostname"}}}]}),
                EnvError::UnsupportedFieldPath {
                    name: "X".into(),
                    path: "spec.hostname".into(),
                },
            ),
            (
                json!({"name": "c", "env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}),
                EnvError::UnsupportedSource { name: "X".into() },
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(resolved(spec.clone()), Err(want), "{spec}");
        }
    }

    #[test]
    fn referenced_names_lists_each_config_map_and_secret_once() {
        let c = container(json!({"name": "c",
            "envFrom": [{"configMapRef": {"name": "a"}}, {"secretRef": {"name": "s"}}],
            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "a", "key": "k"}}},
                    {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}]}));
        assert_eq!(
            referenced_names([&c]),
            (vec!["a".to_owned()], vec!["s".to_owned(), "t".to_owned()])
        );
    }
}
