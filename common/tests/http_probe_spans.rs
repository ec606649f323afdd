//! Probe and scrape requests are measured but not exported as traces; user requests are.
//! A test binary of its own: the subscriber is installed globally, as `init` does.

mod support;

use actix_web::{middleware::from_fn, test, web, App, HttpResponse};

#[actix_web::test]
async fn probes_and_scrapes_are_not_exported_but_user_requests_are() {
    let (ended, _output, _provider) = support::install("info");
    let app = test::init_service(
        App::new()
            .wrap(from_fn(common::http_observe::observe))
            .route("/healthz", web::get().to(HttpResponse::Ok))
            .route("/readyz", web::get().to(HttpResponse::Ok))
            .route("/metrics", web::get().to(HttpResponse::Ok))
            .route("/v1/orders/{id}", web::get().to(HttpResponse::NotFound)),
    )
    .await;
    for uri in ["/healthz", "/readyz", "/metrics", "/v1/orders/42"] {
        let request = test::TestRequest::get().uri(uri).to_request();
        test::call_service(&app, request).await;
    }
    assert_eq!(ended.names(), ["GET /v1/orders/{id}"]);
}
