//! Who may call what. Every `/api/reports/*` and `/api/export/*` route wants
//! a bearer key in force (`crate::keys`) with the route's scope:
//! `reports:read` for the reports, `export:read` for the export status,
//! `export:write` to start an export. A key not in force is a 401; a key
//! without the scope, a 403. The report routes also take a dashboard
//! session (its cookie), which stands for the key it was opened with while
//! that key is in force with `reports:read`, and sees what that key sees.
//!
//! Logs name the caller's key by its name (the `key` field of the `caller`
//! span), never by the key.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, web};
use domain::access::Scope;
use tracing::Instrument;

use crate::AppState;
use crate::dashboard::session;
use crate::error::ApiError;
use crate::keys::{ApiKeys, Key, KeySource, Restriction};

/// Middleware: a `caller` span around each request, whose `key` field
/// names the key once the request is authenticated.
pub async fn caller_span(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let span = tracing::info_span!("caller", key = tracing::field::Empty);
    next.call(request).instrument(span).await
}

/// The key of `Authorization: Bearer <key>`, if the header has that form.
fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// The keys in force as the request starts; it keeps them to its end.
fn keys_of(request: &HttpRequest) -> Result<Arc<ApiKeys>, ApiError> {
    request
        .app_data::<web::Data<KeySource>>()
        .map(|source| source.current())
        .ok_or(ApiError::Unauthorized)
}

/// The key of the request's bearer header, if it is in force (anyone when
/// started with `--insecure-no-auth`).
fn bearer_key(request: &HttpRequest) -> Result<Key, ApiError> {
    let keys = keys_of(request)?;
    let presented = bearer(request).unwrap_or_default();
    keys.find(presented.as_bytes()).ok_or_else(|| {
        tracing::debug!("refused: no key in force matches");
        ApiError::Unauthorized
    })
}

/// `key` if it has `scope`, else the 403; either way the span names it.
pub fn permit(key: Key, scope: Scope) -> Result<Key, ApiError> {
    tracing::Span::current().record("key", key.name.as_str());
    if key.allows(scope) {
        Ok(key)
    } else {
        tracing::debug!(
            key = key.name,
            scope = scope.name(),
            "refused: the key lacks the scope"
        );
        Err(ApiError::Forbidden(scope))
    }
}

/// The scope a route wants, as a type (see [`Authorized`]).
pub trait Needs {
    const SCOPE: Scope;
}

/// `export:read`.
pub struct ExportRead;
impl Needs for ExportRead {
    const SCOPE: Scope = Scope::ExportRead;
}

/// `export:write`.
pub struct ExportWrite;
impl Needs for ExportWrite {
    const SCOPE: Scope = Scope::ExportWrite;
}

/// Extracting this from a request authenticates it by bearer key and
/// checks scope `N`: 401 without a key in force, 403 without the scope.
pub struct Authorized<N: Needs> {
    pub key: Key,
    scope: PhantomData<N>,
}

impl<N: Needs> FromRequest for Authorized<N> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            bearer_key(request)
                .and_then(|key| permit(key, N::SCOPE))
                .map(|key| Self {
                    key,
                    scope: PhantomData,
                }),
        )
    }
}

/// A caller allowed to read reports (`reports:read`): a bearer key, or
/// else a live dashboard session whose key is still in force with that
/// scope. A request with an `Authorization` header is judged by that
/// header alone.
pub struct ReportReader {
    pub key: Key,
}

impl ReportReader {
    /// The rows this caller may see; `None`: every row.
    pub fn restriction(&self) -> Option<Restriction> {
        self.key.restriction.clone()
    }
}

impl FromRequest for ReportReader {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let by_header = request.headers().contains_key(AUTHORIZATION);
        let cookie = session::cookie_id(request);
        let (Some(id), false) = (cookie, by_header) else {
            let key = bearer_key(request).and_then(|key| permit(key, Scope::ReportsRead));
            return Box::pin(std::future::ready(key.map(|key| ReportReader { key })));
        };
        let keys = keys_of(request);
        let state = request.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (keys, state) = (keys?, state.ok_or(ApiError::Unauthorized)?);
            let record = session::find(&state.redis, &id).await?;
            match record.and_then(|record| record.key_in(&keys)) {
                Some(key) => permit(key, Scope::ReportsRead).map(|key| ReportReader { key }),
                None => Err(ApiError::Unauthorized),
            }
        })
    }
}
