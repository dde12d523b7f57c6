//! `POST /api/export/forward` and `GET /api/export/status` (contract: Export to Finance).

use std::sync::OnceLock;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use domain::FieldErrors;
use serde::Deserialize;
use serde_json::{Value, json};

use super::exporter::{ExportError, Exporter};
use super::{chunk, record};
use crate::AppState;
use crate::auth::{Authorized, ExportRead, ExportWrite};
use crate::error::ApiError;
use crate::reports::params::RawQuery;

/// The exporter of this HTTP worker, built on first use from the settings.
#[derive(Default)]
pub struct ExporterCell(OnceLock<Exporter>);

impl ExporterCell {
    fn get(&self, state: &AppState) -> Result<&Exporter, ApiError> {
        if let Some(exporter) = self.0.get() {
            return Ok(exporter);
        }
        let exporter = Exporter::new(state.db.clone(), &state.settings.finance)?;
        Ok(self.0.get_or_init(|| exporter))
    }
}

const REQUIRED: &str = "The date field is required.";
const NOT_A_DATE: &str = "The date field must be a valid date in the format YYYY-MM-DD.";
const IN_FUTURE: &str = "The date field must be a date before or equal to today.";

/// `YYYY-MM-DD`, strictly (no time, no padding variants).
fn parse_date(text: &str) -> Result<NaiveDate, &'static str> {
    if text.len() != 10 {
        return Err(NOT_A_DATE);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| NOT_A_DATE)
}

fn invalid(reason: &str) -> ApiError {
    ApiError::Validation(FieldErrors::single("date", reason))
}

/// Largest body of `POST /api/export/forward`: `{"date":"YYYY-MM-DD"}` and room to spare.
pub const MAX_FORWARD_BODY_BYTES: usize = 16 * 1024;

/// The body of `POST /api/export/forward`; unknown keys are ignored, a key
/// given twice is refused (as ingest refuses it).
#[derive(Deserialize)]
struct ForwardBody {
    date: Option<Value>,
}

/// The body's `date`: a JSON object whose `date` is present, a string, a
/// real date, not after today (UTC).
fn forward_date(body: &[u8]) -> Result<NaiveDate, ApiError> {
    let parsed: ForwardBody = domain::parse_object(body).map_err(ApiError::Validation)?;
    let date = match parsed.date {
        None | Some(Value::Null) => return Err(invalid(REQUIRED)),
        Some(Value::String(text)) if text.trim().is_empty() => return Err(invalid(REQUIRED)),
        Some(Value::String(text)) => parse_date(text.trim()).map_err(invalid)?,
        Some(_) => return Err(invalid(NOT_A_DATE)),
    };
    if date > Utc::now().date_naive() {
        return Err(invalid(IN_FUTURE));
    }
    Ok(date)
}

/// Exports one date's clicks to Finance.
#[utoipa::path(
    post,
    path = "/api/export/forward",
    tag = "export",
    request_body = crate::openapi::ForwardRequest,
    responses(
        (status = 200, description = "Delivered (also for a date without clicks)", body = crate::openapi::ForwardResponse),
        (status = 400, description = "Invalid date", body = crate::reports::model::ErrorBody),
        (status = 401, description = "Missing or wrong bearer key", body = crate::reports::model::ErrorBody),
        (status = 403, description = "The key lacks the export:write scope", body = crate::reports::model::ErrorBody),
        (status = 409, description = "An export of this date is already running", body = crate::reports::model::ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = crate::reports::model::ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = crate::reports::model::ErrorBody),
        (status = 502, description = "Finance refused or failed", body = crate::reports::model::ErrorBody),
        (status = 503, description = "Finance's health check failed", body = crate::reports::model::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn forward(
    _: Authorized<ExportWrite>,
    request: HttpRequest,
    state: web::Data<AppState>,
    cell: web::Data<ExporterCell>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = crate::error::json_body(&request, payload, MAX_FORWARD_BODY_BYTES).await?;
    let date = forward_date(&body)?;
    let exporter = cell.get(&state)?.clone();
    if !exporter.finance().is_available().await {
        return Err(ApiError::Unavailable {
            message: "Finance service is not available",
            extra: json!({"date": date.to_string()}),
        });
    }
    // On its own task: a client that hangs up does not stop the export
    // half-way (it would only resume later, but there is no need).
    let outcome = tokio::spawn(async move { exporter.export_date(date, None).await })
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    match outcome {
        Ok(done) => Ok(HttpResponse::Ok().json(json!({
            "status": "success",
            "message": "Clicks data successfully forwarded to Finance service",
            "date": date.to_string(),
            "clicks_sent": done.clicks_sent,
            "total_clicks": done.total_clicks,
        }))),
        Err(ExportError::AlreadyRunning) => Err(ApiError::Conflict("Export already running")),
        Err(ExportError::Finance {
            message,
            clicks_sent,
        }) => Err(ApiError::BadGateway {
            message: "Failed to forward clicks data",
            extra: json!({"date": date.to_string(), "reason": message, "clicks_sent": clicks_sent}),
        }),
        // Another exporter took the date over (ours had stalled past its lease).
        Err(ExportError::LeaseLost) => Err(ApiError::Conflict("Export already running")),
        Err(ExportError::Db(error)) => Err(error.into()),
    }
}

/// The export state of one date.
#[utoipa::path(
    get,
    path = "/api/export/status",
    tag = "export",
    params(("date" = String, Query, format = Date, description = "YYYY-MM-DD (required); repeated: the last one counts")),
    responses(
        (status = 200, description = "Finance availability and the date's export record", body = crate::openapi::ExportStatusResponse),
        (status = 400, description = "Invalid date", body = crate::reports::model::ErrorBody),
        (status = 401, description = "Missing or wrong bearer key", body = crate::reports::model::ErrorBody),
        (status = 403, description = "The key lacks the export:read scope", body = crate::reports::model::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn status(
    _: Authorized<ExportRead>,
    state: web::Data<AppState>,
    cell: web::Data<ExporterCell>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // As the reports read theirs: a repeated name keeps its last value.
    let query = RawQuery::parse(request.query_string()).map_err(ApiError::Validation)?;
    let date = match query.get("date") {
        None => return Err(invalid(REQUIRED)),
        Some(text) => parse_date(text).map_err(invalid)?,
    };
    let exporter = cell.get(&state)?;
    let (available, clicks, record) = tokio::join!(
        exporter.finance().is_available(),
        chunk::count_clicks(&state.db, date),
        record::load(&state.db, date),
    );
    let (clicks, record) = (clicks?, record?);
    let now = Utc::now().naive_utc();
    let running = record.as_ref().is_some_and(|r| {
        r.state == record::RUNNING && r.lease_expires_at.is_some_and(|until| until > now)
    });
    let mut data = json!({
        "date": date.to_string(),
        "finance_service_available": available,
        "export_ready": available && !running && date <= now.date(),
        "clicks_count": clicks,
    });
    let persisted = match &record {
        None => json!({
            "state": null, "clicks_sent": 0, "total_clicks": null, "undelivered_clicks": clicks,
            "chunks_sent": 0, "attempts": 0, "last_error": null,
            "started_at": null, "finished_at": null,
        }),
        Some(r) => {
            // A run whose lease ran out died without saying so.
            let (state, last_error) = if r.state == record::RUNNING && !running {
                (
                    record::FAILED,
                    Some("the exporter stopped before finishing (its lease ran out)".to_owned()),
                )
            } else {
                (r.state.as_str(), r.last_error.clone())
            };
            json!({
                "state": state,
                "clicks_sent": r.clicks_sent,
                "total_clicks": r.total_clicks,
                "undelivered_clicks": clicks.saturating_sub(r.clicks_sent),
                "chunks_sent": r.chunks_sent,
                "attempts": r.attempts,
                "last_error": last_error,
                "started_at": r.started_at.map(timestamp),
                "finished_at": r.finished_at.map(timestamp),
            })
        }
    };
    if let (Some(data), Some(persisted)) = (data.as_object_mut(), persisted.as_object()) {
        data.extend(persisted.clone());
    }
    Ok(HttpResponse::Ok().json(json!({"status": "success", "data": data})))
}

fn timestamp(at: NaiveDateTime) -> String {
    domain::click::format_timestamp(at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_dates_are_checked() {
        assert!(forward_date(br#"{"date":"2025-06-11"}"#).is_ok());
        for body in [&br#"{}"#[..], br#"{"date":""}"#, br#"{"date":null}"#] {
            let Err(ApiError::Validation(errors)) = forward_date(body) else {
                panic!("{body:?} must be invalid");
            };
            assert_eq!(errors.get("date"), Some(&[REQUIRED.to_owned()][..]));
        }
        // A body that is not a JSON object says so instead of "date required".
        for body in [&b"not json"[..], br#"{"date":"2025-06-11"}x"#, br#"[]"#] {
            let Err(ApiError::Validation(errors)) = forward_date(body) else {
                panic!("{body:?} must be invalid");
            };
            assert!(errors.get("date").is_none(), "{body:?}");
            assert!(errors.get("body").is_some(), "{body:?}");
        }
        for body in [
            &br#"{"date":"2025-02-30"}"#[..],
            br#"{"date":"2025-6-1"}"#,
            br#"{"date":20250611}"#,
            br#"{"date":"2025-06-11T00:00:00Z"}"#,
        ] {
            let Err(ApiError::Validation(errors)) = forward_date(body) else {
                panic!("{body:?} must be invalid");
            };
            assert_eq!(errors.get("date"), Some(&[NOT_A_DATE.to_owned()][..]));
        }
        let Err(ApiError::Validation(errors)) = forward_date(br#"{"date":"9999-01-01"}"#) else {
            panic!("future");
        };
        assert_eq!(errors.get("date"), Some(&[IN_FUTURE.to_owned()][..]));
    }
}
