//! Routes answered the same way by every binary: each path serves one
//! method, any other method gets 405 with `Allow`, and an unknown path a
//! JSON 404 — every error body in the contract's shape.

use actix_web::dev::Handler;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpResponse, Resource, Responder, web};
use serde_json::json;

/// `GET path`; other methods: 405.
pub fn get<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    one(path, Method::GET, web::get().to(handler))
}

/// `POST path`; other methods: 405.
pub fn post<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    one(path, Method::POST, web::post().to(handler))
}

fn one(path: &str, method: Method, route: actix_web::Route) -> Resource {
    several(path, vec![(method, route)])
}

/// One path serving several methods, each with its route; other methods: 405
/// naming them all in `Allow`.
pub fn several(path: &str, routes: Vec<(Method, actix_web::Route)>) -> Resource {
    let allow = routes
        .iter()
        .map(|(method, _)| method.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    routes
        .into_iter()
        .fold(web::resource(path), |resource, (_, route)| {
            resource.route(route)
        })
        .default_service(web::to(move || {
            let allow = allow.clone();
            async move { method_not_allowed(&allow) }
        }))
}

/// 405 `{"error":"Method not allowed"}` with `Allow: <allowed>`.
pub fn method_not_allowed(allowed: &str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allowed))
        .json(json!({"error": "Method not allowed"}))
}

/// The default service: 404 `{"error":"Not found"}`.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "Not found"}))
}

#[cfg(test)]
mod tests {
    use actix_web::test;

    use super::*;

    #[actix_web::test]
    async fn other_methods_get_405_with_allow_and_unknown_paths_a_json_404() {
        let app = test::init_service(
            actix_web::App::new()
                .service(get("/read", || async { "read" }))
                .service(post("/write", || async { "written" }))
                .default_service(web::to(not_found)),
        )
        .await;
        for (method, path, status, allow) in [
            (Method::GET, "/read", 200, None),
            (Method::POST, "/read", 405, Some("GET")),
            (Method::TRACE, "/read", 405, Some("GET")),
            (Method::POST, "/write", 200, None),
            (Method::GET, "/write", 405, Some("POST")),
            (Method::GET, "/nowhere", 404, None),
        ] {
            let request = test::TestRequest::default()
                .method(method.clone())
                .uri(path)
                .to_request();
            let response = test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), status, "{method} {path}");
            assert_eq!(
                response
                    .headers()
                    .get(header::ALLOW)
                    .and_then(|value| value.to_str().ok()),
                allow,
                "{method} {path}"
            );
            if status >= 400 {
                let body: serde_json::Value = test::read_body_json(response).await;
                assert!(body["error"].is_string(), "{body}");
            }
        }
    }
}
