//! `/openapi.json`, generated from the handlers' types.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "surge ingest",
        description = "Accepts flash-sale orders and publishes them to Kafka."
    ),
    paths(
        super::orders::create_order,
        super::health::healthz,
        super::health::readyz
    ),
    components(schemas(
        order::OrderRequest,
        order::FieldError,
        common::problem::Problem,
        super::orders::OrderAccepted,
        common::health::HealthStatus,
    ))
)]
pub struct ApiDoc;

pub async fn openapi_json() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| ApiDoc::openapi().to_pretty_json().unwrap_or_default());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json.as_str())
}
