//! `GET /api/reports/aggregated` and `GET /api/reports/summary` (SPEC §4).

use actix_web::{HttpResponse, web};

use crate::auth::Authenticated;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/aggregated", web::get().to(not_yet))
        .route("/summary", web::get().to(not_yet));
}

async fn not_yet(_: Authenticated) -> HttpResponse {
    HttpResponse::NotImplemented().json(serde_json::json!({"error": "Not implemented yet"}))
}
