//! Whether the cluster refuses this process's credentials.
//!
//! A wrong SASL password or a broker certificate the client does not trust is no outage to
//! wait out, yet librdkafka treats it like one: it retries for ever, and every request ends
//! as "broker transport failure", which says nothing of the cause. The client contexts
//! record each authentication or TLS failure librdkafka reports here; readiness reads it
//! and names the cause, and the first failure is logged once at error level with what to
//! check. librdkafka's reasons name the mechanism and the broker, never the password.

use std::sync::{Arc, Mutex};

use rdkafka::types::RDKafkaErrorCode;

/// The last authentication or TLS failure of one or more clients of a process, until a
/// request succeeds. librdkafka reports identical errors once and then suppresses them
/// (later attempts surface only as "all brokers down"), so a failure stays current until
/// the owner sees the cluster accept the client: the producer's metadata probe, the
/// consumer's group join.
#[derive(Clone, Debug, Default)]
pub struct AuthFailures {
    last: Arc<Mutex<Option<String>>>,
}

impl AuthFailures {
    /// Records a failure; true when it is news (none was current), so that the caller
    /// logs the first one and not every retry.
    pub fn record(&self, reason: &str) -> bool {
        let Ok(mut last) = self.last.lock() else {
            return false;
        };
        let news = last.is_none();
        *last = Some(reason.to_owned());
        news
    }

    /// The cluster accepted this client (a request succeeded).
    pub fn clear(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = None;
        }
    }

    /// Why the cluster refuses this process, while it does.
    pub fn current(&self) -> Option<String> {
        let last = self.last.lock().ok()?;
        last.as_ref().map(|reason| {
            format!("Kafka refuses this client's credentials or TLS handshake: {reason}")
        })
    }
}

/// Errors that no retry fixes: the credentials or the TLS trust are wrong.
pub fn is_auth_failure(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::SSL
    )
}

/// What an operator should check, logged with the first failure.
pub const AUTH_FAILURE_HINT: &str = "Kafka refused this client's credentials or TLS handshake: \
     check kafka.properties security.protocol, sasl.mechanism, sasl.username, sasl.password and \
     ssl.ca.location; not ready until the cluster accepts them";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_news_and_its_retries_are_not() {
        let failures = AuthFailures::default();
        assert_eq!(failures.current(), None);
        assert!(failures.record("SASL authentication error"));
        assert!(!failures.record("SASL authentication error"));
        assert!(!failures.record("SASL authentication error (1 identical error(s) suppressed)"));
        let current = failures.current().expect("a failure is current");
        assert!(current.contains("SASL authentication error"), "{current}");
        failures.clear();
        assert_eq!(failures.current(), None);
        assert!(
            failures.record("SSL handshake failed"),
            "news again after a success"
        );
    }

    #[test]
    fn only_credential_and_tls_errors_count() {
        assert!(is_auth_failure(RDKafkaErrorCode::Authentication));
        assert!(is_auth_failure(RDKafkaErrorCode::SaslAuthenticationFailed));
        assert!(is_auth_failure(RDKafkaErrorCode::SSL));
        assert!(!is_auth_failure(RDKafkaErrorCode::BrokerTransportFailure));
        assert!(!is_auth_failure(RDKafkaErrorCode::AllBrokersDown));
    }
}
