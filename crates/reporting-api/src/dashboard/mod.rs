//! The reports dashboard: one page and its assets, embedded in the binary,
//! over the report endpoints (no query path of its own), and the session
//! that stands in for the reporting key in the browser (`session`).
//!
//! - `GET /dashboard`: the page; `GET /`: a redirect to it;
//! - `GET /dashboard/assets/<name>`: script, styles and the vendored uPlot
//!   (`dashboard/vendor/uplot`, MIT), with an `ETag`;
//! - `POST /dashboard/session` `{"key": …}`: opens a session (cookie);
//!   `GET` describes it, `DELETE` ends it.
//!
//! Every answer under `/dashboard` carries a strict Content-Security-Policy:
//! the page has no inline script or style, so it needs nothing looser.

pub mod session;

use std::sync::LazyLock;
use std::time::Duration;

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::access::Scope;
use serde_json::json;
use service_runtime::routes;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;
use crate::keys::KeySource;

/// Sent with the page and its assets.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Largest login body.
const MAX_LOGIN_BYTES: usize = 4096;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const PAGE: &[u8] = include_bytes!("../../dashboard/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../dashboard/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../dashboard/app.css"),
    },
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../dashboard/vendor/uplot/uPlot.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../dashboard/vendor/uplot/uPlot.min.css"),
    },
];

/// Each asset's `ETag`, in `ASSETS` order.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| format!("\"{}\"", &hex::encode(Sha256::digest(asset.body))[..20]))
        .collect()
});

/// The bytes of the page and every asset: what a first visit downloads
/// besides the report answers.
pub fn page_weight() -> usize {
    PAGE.len() + ASSETS.iter().map(|asset| asset.body.len()).sum::<usize>()
}

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(routes::get("/", root))
        .service(routes::get("/dashboard", page))
        .service(routes::get("/dashboard/assets/{name}", asset))
        .service(routes::several(
            "/dashboard/session",
            vec![
                (Method::GET, web::get().to(show_session)),
                (Method::POST, web::post().to(open_session)),
                (Method::DELETE, web::delete().to(close_session)),
            ],
        ));
}

/// Headers of everything the dashboard serves.
fn hardened(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    response
}

async fn root() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard"))
        .finish()
}

async fn page() -> HttpResponse {
    hardened(HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(PAGE)
}

async fn asset(request: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name.as_str()) else {
        return routes::not_found().await;
    };
    let (asset, etag) = (&ASSETS[index], &ETAGS[index]);
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if unchanged {
        hardened(HttpResponse::NotModified())
    } else {
        hardened(HttpResponse::Ok())
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if unchanged {
        response.finish()
    } else {
        response.content_type(asset.content_type).body(asset.body)
    }
}

/// Whether the browser reached us over HTTPS (directly or, as
/// `X-Forwarded-Proto`/`Forwarded` say, through a proxy): the cookie is then
/// `Secure`.
fn over_https(request: &HttpRequest) -> bool {
    request.connection_info().scheme() == "https"
}

fn session_ttl(state: &AppState) -> Duration {
    Duration::from_secs(u64::from(state.settings.dashboard_session_minutes) * 60)
}

#[derive(serde::Deserialize)]
struct Login {
    key: Option<serde_json::Value>,
}
/// `POST /dashboard/session`: `{"key": "<reporting key>"}` → 200 and the
/// cookie; 401 for a key not in force, 403 for one without `reports:read`.
async fn open_session(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    keys: web::Data<KeySource>,
) -> Result<HttpResponse, ApiError> {
    let body = crate::error::json_body(&request, payload, MAX_LOGIN_BYTES).await?;
    let login: Login = domain::parse_object(&body).map_err(ApiError::Validation)?;
    let Some(serde_json::Value::String(key)) = login.key else {
        return Err(ApiError::Validation(domain::FieldErrors::single(
            "key",
            "The key field is required and must be a string.",
        )));
    };
    let accepted = match keys.current().find(key.as_bytes()) {
        Some(found) if !key.is_empty() => crate::auth::permit(found, Scope::ReportsRead),
        _ => Err(ApiError::InvalidKey),
    };
    let found = match accepted {
        Ok(found) => found,
        Err(refusal) => {
            metrics::counter!(SESSIONS_TOTAL, "event" => "refused").increment(1);
            return Err(refusal);
        }
    };
    let ttl = session_ttl(&state);
    let digest = domain::access::key_digest(key.as_bytes());
    let (id, record) = session::open(&state.redis, &digest, ttl).await?;
    metrics::counter!(SESSIONS_TOTAL, "event" => "opened").increment(1);
    tracing::info!(
        key = found.name,
        expires_at = record.expires_at,
        "dashboard session opened"
    );
    Ok(hardened(HttpResponse::Ok())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session::cookie(&id, ttl, over_https(&request)))
        .json(record.describe(&found)))
}

/// `GET /dashboard/session`: 200 with the session's expiry and key name,
/// or 401.
async fn show_session(
    request: HttpRequest,
    state: web::Data<AppState>,
    keys: web::Data<KeySource>,
) -> Result<HttpResponse, ApiError> {
    let Some(id) = session::cookie_id(&request) else {
        return Err(ApiError::Unauthorized);
    };
    let record = session::find(&state.redis, &id).await?;
    let keys = keys.current();
    match record.and_then(|record| record.key_in(&keys).map(|key| (record, key))) {
        Some((record, key)) => Ok(hardened(HttpResponse::Ok())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(record.describe(&key))),
        None => Err(ApiError::Unauthorized),
    }
}

/// `DELETE /dashboard/session`: 204; the session ends and the cookie goes.
async fn close_session(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(id) = session::cookie_id(&request) {
        session::close(&state.redis, &id).await?;
        metrics::counter!(SESSIONS_TOTAL, "event" => "closed").increment(1);
    }
    Ok(hardened(HttpResponse::NoContent())
        .cookie(session::removal_cookie(over_https(&request)))
        .finish())
}

/// Dashboard sessions by event: opened, refused (a wrong key, or one
/// without `reports:read`), closed (logout).
pub const SESSIONS_TOTAL: &str = "dashboard_sessions_total";

/// The dashboard's metrics, registered at start.
pub const METRICS: &[service_runtime::metrics::Metric] =
    &[service_runtime::metrics::Metric::counter(
        SESSIONS_TOTAL,
        "Dashboard sessions, by event: opened, refused (a wrong key, or one without reports:read) or closed (logout).",
    )
    .by("event", &["opened", "refused", "closed"])];

/// The JSON 401 of a wrong key at login.
pub fn invalid_key_body() -> serde_json::Value {
    json!({"error": "Invalid reporting key"})
}
