//! The SASL_SSL listener of the local three-node cluster (`scripts/infra.sh up kafka3`):
//! SCRAM-SHA-512 over TLS with a CA of the cluster's own, what production clients use.

use std::time::Duration;

use rdkafka::message::OwnedMessage;

/// Where the listener is and how to log in, from the variables `scripts/infra.sh env`
/// prints (`SURGE_TEST_KAFKA3_*` or, as printed, `SURGE_KAFKA3_*`).
pub struct SaslCluster {
    /// The SASL_SSL listeners of the three nodes.
    pub bootstrap: String,
    /// The same nodes' PLAINTEXT listeners, for setting up topics and reading them back.
    pub plaintext_bootstrap: String,
    pub username: String,
    pub password: String,
    pub ca_file: String,
}

fn var(name: &str) -> String {
    std::env::var(format!("SURGE_TEST_{name}"))
        .or_else(|_| std::env::var(format!("SURGE_{name}")))
        .unwrap_or_else(|_| {
            panic!(
                "SURGE_TEST_{name} is not set: the SASL_SSL tests need the three-node Kafka \
                 cluster. Start it with `scripts/infra.sh up kafka3` and export what \
                 `scripts/infra.sh env` prints (scripts/test.sh does both)."
            )
        })
}

impl SaslCluster {
    pub fn from_env() -> Self {
        let password_file = var("KAFKA3_SASL_PASSWORD_FILE");
        let password = std::fs::read_to_string(&password_file)
            .unwrap_or_else(|e| panic!("cannot read the SCRAM password in {password_file}: {e}"))
            .trim()
            .to_owned();
        Self {
            bootstrap: var("KAFKA3_SASL_BOOTSTRAP"),
            plaintext_bootstrap: var("KAFKA3_BOOTSTRAP"),
            username: var("KAFKA3_SASL_USERNAME"),
            password,
            ca_file: var("KAFKA3_CA_FILE"),
        }
    }

    /// A service's environment for this listener, logging in with `password`, the way a
    /// Deployment passes it from a Secret.
    pub fn service_env(&self, password: &str) -> Vec<(String, String)> {
        [
            ("SURGE__KAFKA__BOOTSTRAP_SERVERS", self.bootstrap.as_str()),
            ("SURGE__KAFKA__PROPERTIES__SECURITY_PROTOCOL", "SASL_SSL"),
            ("SURGE__KAFKA__PROPERTIES__SASL_MECHANISM", "SCRAM-SHA-512"),
            ("SURGE__KAFKA__PROPERTIES__SASL_USERNAME", &self.username),
            ("SURGE__KAFKA__PROPERTIES__SASL_PASSWORD", password),
            ("SURGE__KAFKA__PROPERTIES__SSL_CA_LOCATION", &self.ca_file),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// The same as librdkafka properties, for a client of the test's own.
    pub fn client_properties(&self) -> Vec<(&'static str, String)> {
        vec![
            ("security.protocol", "SASL_SSL".to_owned()),
            ("sasl.mechanism", "SCRAM-SHA-512".to_owned()),
            ("sasl.username", self.username.clone()),
            ("sasl.password", self.password.clone()),
            ("ssl.ca.location", self.ca_file.clone()),
        ]
    }

    /// A topic replicated on all three nodes.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        crate::kafka::create_topic_at(&self.plaintext_bootstrap, name, partitions, 3).await;
    }

    pub fn read_all(&self, topic: &str, expected: usize, timeout: Duration) -> Vec<OwnedMessage> {
        crate::kafka::read_all_at(&self.plaintext_bootstrap, topic, expected, timeout)
    }
}
