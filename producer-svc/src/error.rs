//! Everything that stops an order from being accepted, and the answer each one gets.
//!
//! Client mistakes are 4xx; only "the broker did not acknowledge" is 503, so a retry is
//! useful exactly when the status says so. Nothing is published for a 4xx or a full
//! queue; a 503 after the delivery timeout is `outcome-unknown`: the record may be on the
//! broker, and a retry with the same `Idempotency-Key` settles it.

use actix_web::http::StatusCode;

use common::problem::Problem;
use order::FieldError;

use crate::publisher::PublishError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("content type must be application/json, got {0}")]
    UnsupportedMediaType(String),
    #[error("request headers exceed {0} bytes")]
    HeadersTooLarge(usize),
    #[error("request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    #[error("could not read the request body: {0}")]
    UnreadableBody(String),
    #[error("the request body did not arrive within {0} ms")]
    BodyReadTimeout(u64),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("invalid header")]
    InvalidHeader(FieldError),
    #[error("the order does not match the schema: {0}")]
    SchemaMismatch(String),
    #[error("invalid order")]
    InvalidOrder(Vec<FieldError>),
    #[error("too many orders are waiting for the broker")]
    TooManyInFlight,
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl IngestError {
    /// Label value of `surge_orders_rejected_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::HeadersTooLarge(_) => "headers_too_large",
            IngestError::PayloadTooLarge(_) => "payload_too_large",
            IngestError::UnreadableBody(_) => "unreadable_body",
            IngestError::BodyReadTimeout(_) => "body_read_timeout",
            IngestError::MalformedJson(_) => "malformed_json",
            IngestError::InvalidHeader(_) => "invalid_header",
            IngestError::SchemaMismatch(_) | IngestError::InvalidOrder(_) => "invalid_order",
            IngestError::TooManyInFlight => "too_many_in_flight",
            IngestError::Publish(PublishError::QueueFull) => "queue_full",
            IngestError::Publish(PublishError::Timeout) => "broker_timeout",
            IngestError::Publish(PublishError::Rejected(_)) => "broker_error",
            IngestError::Publish(PublishError::Stopped) => "shutting_down",
        }
    }

    /// Whether the request's body may still be (partly) on the connection: the error was
    /// found before the body was read to its end.
    pub fn leaves_body_unread(&self) -> bool {
        matches!(
            self,
            IngestError::UnsupportedMediaType(_)
                | IngestError::HeadersTooLarge(_)
                | IngestError::TooManyInFlight
                | IngestError::PayloadTooLarge(_)
                | IngestError::UnreadableBody(_)
                | IngestError::BodyReadTimeout(_)
        )
    }

    pub fn to_problem(&self, retry_after_secs: u32) -> Problem {
        match self {
            IngestError::UnsupportedMediaType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                self.to_string(),
            ),
            IngestError::HeadersTooLarge(_) => Problem::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request-header-fields-too-large",
                self.to_string(),
            ),
            IngestError::PayloadTooLarge(_) => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                self.to_string(),
            ),
            IngestError::BodyReadTimeout(_) => Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                self.to_string(),
            ),
            IngestError::UnreadableBody(_) | IngestError::MalformedJson(_) => Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-request",
                self.to_string(),
            ),
            IngestError::InvalidHeader(error) => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-header",
                format!("{}: {}", error.field, error.detail),
            )
            .with_errors(vec![error.clone()]),
            IngestError::SchemaMismatch(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-order",
                self.to_string(),
            ),
            IngestError::InvalidOrder(errors) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-order",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
            .with_errors(errors.clone()),
            IngestError::TooManyInFlight => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-in-flight",
                format!("{self}; retry after {retry_after_secs} s"),
            )
            .retry_after(retry_after_secs),
            // The record may be on the broker: librdkafka gave up waiting for the
            // acknowledgement, not necessarily the broker on the write. Saying "not
            // accepted" here would be a lie half the time; the retry with the same key is
            // what makes either outcome safe.
            IngestError::Publish(error @ (PublishError::Timeout | PublishError::Stopped)) => {
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "outcome-unknown",
                    format!(
                        "{error}; outcome unknown: the order may still be accepted. Retry \
                         with the same Idempotency-Key, which maps to the same order"
                    ),
                )
                .retry_after(retry_after_secs)
            }
            IngestError::Publish(error) => {
                // The librdkafka error text names brokers and internals; the log has it,
                // the client gets a stable sentence.
                let detail = match error {
                    PublishError::Rejected(_) => {
                        "the order could not be handed to the broker; it was not accepted"
                            .to_owned()
                    }
                    other => format!("{other}; the order was not accepted"),
                };
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-acknowledged", detail)
                    .retry_after(retry_after_secs)
            }
        }
    }
}
