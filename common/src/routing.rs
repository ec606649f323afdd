//! Route wiring both services share.

use actix_web::web;

use crate::problem::method_not_allowed;

/// A GET-only resource: any other method gets a problem+json 405 with `Allow: GET`.
pub fn get_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(method_not_allowed("GET")))
}
