//! Per-request telemetry for the actix services: one server span per request (continuing
//! a W3C `traceparent` sent by the client) and the request-duration histogram.
//!
//! Labels are bounded on purpose: the route is the matched pattern (`/v1/orders/{id}`),
//! never the raw path, and unknown methods collapse to `_OTHER`, so hostile clients cannot
//! grow the metric registry.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
pub const ACTIVE_REQUESTS: &str = "http_server_active_requests";

/// Wrap an `App` with `actix_web::middleware::from_fn(observe)`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = method_label(req.method());
    // The route template is known before routing (it is matched against the app's
    // resource map), so the span gets its final name at creation: tracing-opentelemetry
    // starts the OpenTelemetry span when it is first entered and ignores later names.
    let route_at_start = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    macro_rules! server_span {
        ($level:expr) => {
            tracing::span!(
                $level,
                "http.server",
                otel.name = format!("{method} {route_at_start}"),
                otel.kind = "server",
                otel.status_code = Empty,
                http.request.method = method,
                url.path = %req.path(),
                http.route = Empty,
                http.response.status_code = Empty,
                user_agent.original = Empty,
            )
        };
    }
    // Probes and scrapes arrive every few seconds from every kubelet and Prometheus: their
    // spans are DEBUG, below the exported level, so they never crowd out the orders'
    // traces in the collector. They still count in the duration histogram.
    let span = if is_infrastructure_route(&route_at_start) {
        server_span!(tracing::Level::DEBUG)
    } else {
        server_span!(tracing::Level::INFO)
    };
    if let Some(agent) = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        span.record("user_agent.original", agent);
    }
    let parent = extract_from_http(req.headers());
    let _ = span.set_parent(parent);

    let active = metrics::gauge!(ACTIVE_REQUESTS);
    active.increment(1.0);
    let result = next.call(req).instrument(span.clone()).await;
    active.decrement(1.0);

    let (status, route) = match &result {
        Ok(response) => (
            response.status().as_u16(),
            response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
        ),
        Err(error) => (
            error.as_response_error().status_code().as_u16(),
            "unmatched".to_owned(),
        ),
    };
    span.record("http.route", route.as_str());
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    metrics::histogram!(
        REQUEST_DURATION,
        "method" => method,
        "route" => route,
        "status" => status.to_string(),
    )
    .record(start.elapsed().as_secs_f64());
    result
}

/// Routes polled by the platform rather than called by users.
pub const INFRASTRUCTURE_ROUTES: &[&str] = &["/healthz", "/readyz", "/metrics"];

fn is_infrastructure_route(route: &str) -> bool {
    INFRASTRUCTURE_ROUTES.contains(&route)
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// Reads a trace context from HTTP request headers.
fn extract_from_http(headers: &actix_web::http::header::HeaderMap) -> opentelemetry::Context {
    use opentelemetry::propagation::{Extractor, TextMapPropagator};

    struct Http<'a>(&'a actix_web::http::header::HeaderMap);
    impl Extractor for Http<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&Http(headers))
}
