//! `POST /v1/orders`: validate, publish, answer 202 only after the broker's ack.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::BytesMut;
use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use common::problem::Problem;
use order::{OrderEvent, OrderRequest, ValidOrder};

use crate::error::IngestError;
use crate::ingest_state::IngestState;

pub const ACCEPTED: &str = "surge_orders_accepted_total";
pub const REJECTED: &str = "surge_orders_rejected_total";
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The answer to an accepted order: where the broker stored it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderAccepted {
    pub order_id: Uuid,
    #[schema(example = "accepted")]
    pub status: &'static str,
    pub partition: i32,
    pub offset: i64,
}

/// Accept an order. The answer is 202 only after Kafka acknowledged the record
/// (`acks=all`). A 4xx or a 503 `not-acknowledged` means the order was not accepted; a
/// 503 `outcome-unknown` (no acknowledgement within the delivery timeout) means the
/// record may still be on the broker. Retrying with the same `Idempotency-Key` maps to
/// the same `order_id`, so a retry after a timeout cannot create a second order.
#[utoipa::path(
    post,
    path = "/v1/orders",
    request_body(content = OrderRequest, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header,
         description = "1-255 visible ASCII characters; the same key with the same order (customer, SKU, quantity) yields the same order_id, a different order a different one"),
    ),
    responses(
        (status = 202, description = "acknowledged by Kafka", body = OrderAccepted,
         headers(("Location" = String, description = "/v1/orders/{order_id}"))),
        (status = 400, description = "malformed JSON or invalid header", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "the body did not arrive within the body read timeout; the connection is closed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 431, description = "request headers larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid field values", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "in-flight budget (requests being read or waiting for Kafka) spent; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "not acknowledged by Kafka; see Retry-After. Queue full (`not-acknowledged`): not accepted. Broker unreachable past the delivery timeout (`outcome-unknown`): outcome unknown, the order may still be accepted: retry with the same Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_order(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<IngestState>,
) -> HttpResponse {
    match accept(&req, &mut payload, &state).await {
        Ok(accepted) => {
            metrics::counter!(ACCEPTED).increment(1);
            HttpResponse::Accepted()
                .insert_header((
                    header::LOCATION,
                    format!("/v1/orders/{}", accepted.order_id),
                ))
                .json(accepted)
        }
        Err(error) => {
            metrics::counter!(REJECTED, "reason" => error.reason()).increment(1);
            if matches!(error, IngestError::Publish(_)) {
                tracing::warn!(%error, reason = error.reason(), "order not acknowledged");
            } else {
                tracing::debug!(%error, reason = error.reason(), "order rejected");
            }
            let mut response = error
                .to_problem(state.limits.retry_after_secs)
                .into_response();
            if error.leaves_body_unread() && !small_declared_body(&req, state.limits.max_body_bytes)
            {
                close_leaving_body_unread(&mut response, payload);
            }
            response
        }
    }
}

async fn accept(
    req: &HttpRequest,
    payload: &mut web::Payload,
    state: &IngestState,
) -> Result<OrderAccepted, IngestError> {
    check_header_size(req, state.limits.max_header_bytes)?;
    check_content_type(req)?;
    // The slot is taken before the body is read: a connection trickling its body in holds
    // memory and a worker's attention as surely as one waiting for the broker, and
    // reading is bounded in time so a stalled body cannot hold its slot for long.
    let _permit = state
        .in_flight
        .try_acquire()
        .ok_or(IngestError::TooManyInFlight)?;
    let timeout = state.limits.body_read_timeout();
    let body = tokio::time::timeout(
        timeout,
        read_body(req, payload, state.limits.max_body_bytes),
    )
    .await
    .map_err(|_| IngestError::BodyReadTimeout(state.limits.body_read_timeout_ms))??;
    let key = idempotency_key(req)?;
    let order = parse(&body)?;
    let order_id = order::order_id(&order, key);
    let event = OrderEvent::new(order, order_id, OffsetDateTime::now_utc());

    let ack = state.publisher.publish(&event).await?;
    Ok(OrderAccepted {
        order_id,
        status: "accepted",
        partition: ack.partition,
        offset: ack.offset,
    })
}

/// Closes the connection after `response` instead of reading the rest of the body.
///
/// The trap: actix-http discards a dropped chunked body by reading it to its end, for
/// as long as the client keeps sending (an endless chunked body keeps the connection
/// forever), and `Connection: close` on the response does not stop that. A body still
/// held when the response is written is instead "unread", and the connection is closed
/// after the response. So the payload is held a moment longer than the handler, by a
/// task on this worker. A small declared body is cheap to discard and keeps the
/// connection for the client's next request, so this is only for the others.
fn close_leaving_body_unread(response: &mut HttpResponse, payload: web::Payload) {
    response
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    actix_web::rt::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        drop(payload);
    });
}

/// A `Content-Length` no larger than `limit` (and no `Transfer-Encoding`).
fn small_declared_body(req: &HttpRequest, limit: usize) -> bool {
    !req.headers().contains_key(header::TRANSFER_ENCODING)
        && req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok())
            .is_some_and(|len| len <= limit)
}

/// Every header line's name and value together, against `limit`: the head is already
/// read, but nothing of an oversized one (a huge `tracestate`, say) goes further.
fn check_header_size(req: &HttpRequest, limit: usize) -> Result<(), IngestError> {
    let size: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > limit {
        Err(IngestError::HeadersTooLarge(limit))
    } else {
        Ok(())
    }
}

/// `application/json` or any `application/*+json`, parameters (charset) ignored.
fn check_content_type(req: &HttpRequest) -> Result<(), IngestError> {
    let raw = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let Some(raw) = raw else {
        return Err(IngestError::UnsupportedMediaType(
            "no Content-Type".to_owned(),
        ));
    };
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        let shown: String = raw.chars().take(100).collect();
        Err(IngestError::UnsupportedMediaType(format!("{shown:?}")))
    }
}

/// Reads at most `limit` bytes, refusing early when `Content-Length` already says more.
async fn read_body(
    req: &HttpRequest,
    payload: &mut web::Payload,
    limit: usize,
) -> Result<BytesMut, IngestError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(IngestError::PayloadTooLarge(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(256).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| IngestError::UnreadableBody(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(IngestError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<&str>, IngestError> {
    let mut values = req.headers().get_all(IDEMPOTENCY_KEY);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(IngestError::InvalidHeader(order::FieldError {
            field: "Idempotency-Key",
            detail: "must appear at most once".to_owned(),
        }));
    }
    order::validate_idempotency_key(first.as_bytes())
        .map(Some)
        .map_err(IngestError::InvalidHeader)
}

/// JSON syntax errors are 400; well-formed JSON of the wrong shape or values is 422.
fn parse(body: &[u8]) -> Result<ValidOrder, IngestError> {
    let request: OrderRequest = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => IngestError::SchemaMismatch(e.to_string()),
        _ => IngestError::MalformedJson(e.to_string()),
    })?;
    request.validate().map_err(IngestError::InvalidOrder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_malformed_and_shape_errors_are_invalid() {
        assert!(matches!(parse(b"{"), Err(IngestError::MalformedJson(_))));
        assert!(matches!(parse(b""), Err(IngestError::MalformedJson(_))));
        assert!(matches!(
            parse(br#"{"sku":"A","quantity":1,"customer_id":"c"} trailing"#),
            Err(IngestError::MalformedJson(_))
        ));
        assert!(matches!(
            parse(br#"{"sku":"A","quantity":"1","customer_id":"c"}"#),
            Err(IngestError::SchemaMismatch(_))
        ));
        assert!(matches!(
            parse(br#"{"sku":"A","quantity":1,"customer_id":"c","price":5}"#),
            Err(IngestError::SchemaMismatch(_))
        ));
        assert!(matches!(
            parse(br#"{"sku":"A","quantity":0,"customer_id":"c"}"#),
            Err(IngestError::InvalidOrder(_))
        ));
        assert!(parse(br#"{"sku":"A","quantity":1,"customer_id":"c"}"#).is_ok());
    }
}
