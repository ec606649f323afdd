//! `GET /v1/orders/{id}`: an order's fate, read from PostgreSQL.
//!
//! An order accepted by producer-svc but not processed yet has no row, and gets 404 like
//! an id nobody ever issued: the consumer cannot tell the two apart without reading the
//! topic. Clients poll the `Location` they were given until it answers 200.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use uuid::Uuid;

use common::problem::Problem;

use crate::store::Store;

pub async fn get_order(store: web::Data<Store>, id: web::Path<String>) -> HttpResponse {
    let Ok(order_id) = Uuid::parse_str(&id) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-order-id",
            format!(
                "{:?} is not an order id; order ids are UUIDs",
                truncate(&id)
            ),
        )
        .into_response();
    };
    match store.find_order(order_id).await {
        Ok(Some(order)) => HttpResponse::Ok().json(order),
        Ok(None) => Problem::not_found(format!(
            "order {order_id} is unknown or not processed yet; retry later if it was just accepted"
        ))
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "order look-up failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database-unavailable",
                "orders cannot be read right now",
            )
            .retry_after(1)
            .into_response()
        }
    }
}

/// Echo at most 64 characters of a bad id back.
fn truncate(id: &str) -> &str {
    match id.char_indices().nth(64) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}
