//! RFC 9457 problem details: every error a surge service answers has this shape.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde::Serialize;

use order::FieldError;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An `application/problem+json` body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, stable across releases.
    #[serde(rename = "type")]
    #[schema(example = "urn:surge:problem:invalid-order")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Field-level violations, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds after which a retry may succeed; also sent as `Retry-After`.
    #[serde(skip)]
    pub retry_after_secs: Option<u32>,
}

impl Problem {
    /// `slug` becomes `urn:surge:problem:{slug}`.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:surge:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn into_response(self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        builder.insert_header((header::CONTENT_TYPE, CONTENT_TYPE));
        if let Some(secs) = self.retry_after_secs {
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        builder.json(self)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", detail)
    }
}

/// `default_service` for routes nobody serves: a problem+json 404 instead of an empty body.
pub async fn unknown_route(req: actix_web::HttpRequest) -> HttpResponse {
    Problem::not_found(format!("no route for {} {}", req.method(), req.path())).into_response()
}

/// Answers 405 with an `Allow` header listing what the resource accepts.
pub fn method_not_allowed(
    allow: &'static str,
) -> impl Fn(actix_web::HttpRequest) -> std::future::Ready<HttpResponse> + Clone {
    move |req: actix_web::HttpRequest| {
        let mut response = Problem::method_not_allowed(format!(
            "{} is not allowed on {}; allowed: {allow}",
            req.method(),
            req.path()
        ))
        .into_response();
        if let Ok(value) = header::HeaderValue::from_str(allow) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        std::future::ready(response)
    }
}
