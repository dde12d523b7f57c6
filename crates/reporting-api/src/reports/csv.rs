//! `format=csv`: the aggregated rows as CSV, streamed from one MySQL query
//! (sqlx's row stream) so that a year of rows never sits in memory.
//!
//! A task reads rows and sends ~32 KiB chunks through a small channel; the
//! channel's bound is the backpressure, and a client that goes away closes
//! it, which ends the task and the query.

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use futures_util::StreamExt;
use sea_orm::DatabaseConnection;
use storage::reports::AggregatedRow;

use super::params::{AggregatedParams, Dimension};
use crate::error::ApiError;

const CHUNK_BYTES: usize = 32 * 1024;

/// The CSV answer. It starts (status 200 and headers) only once the query
/// has produced its first row or ended: a query that fails at once is a
/// JSON error like any other. One that fails later can no longer change the
/// status; the body then ends without chunked encoding's last chunk, which
/// every HTTP client reports as a truncated transfer.
pub async fn response(
    db: &DatabaseConnection,
    params: &AggregatedParams,
) -> Result<HttpResponse, ApiError> {
    let page = params.paged.then(|| (params.limit, params.offset()));
    let mut rows = storage::reports::aggregated_stream(db, &params.aggregation(), page);
    let dims = params.group_by.dimensions().to_vec();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let (started, first) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let mut started = Some(started);

    actix_web::rt::spawn(async move {
        let mut header: Vec<&str> = dims.iter().map(|d| d.name()).collect();
        header.push("clicks_count");
        let mut buffer = header.join(",");
        buffer.push_str("\r\n");
        while let Some(row) = rows.next().await {
            let line = row
                .map(|row| csv_line(&row, &dims))
                .map_err(|e| e.to_string());
            if let Some(started) = started.take() {
                let outcome = line.as_ref().map(|_| ()).map_err(Clone::clone);
                let failed = outcome.is_err();
                let _ = started.send(outcome);
                if failed {
                    return;
                }
            }
            match line {
                Ok(line) => buffer.push_str(&line),
                Err(error) => {
                    tracing::error!(error, "CSV report failed mid-stream");
                    let _ = sender
                        .send(Err(std::io::Error::other("report query failed")))
                        .await;
                    return;
                }
            }
            if buffer.len() >= CHUNK_BYTES
                && sender
                    .send(Ok(Bytes::from(std::mem::take(&mut buffer))))
                    .await
                    .is_err()
            {
                return; // the client went away
            }
        }
        if let Some(started) = started.take() {
            let _ = started.send(Ok(()));
        }
        let _ = sender.send(Ok(Bytes::from(buffer))).await;
    });
    match first.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(ApiError::Internal(anyhow::anyhow!(error))),
        Err(_) => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "the CSV report ended before its first row"
            )));
        }
    }

    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let filename = format!(
        "clicks-report-{}-{}.csv",
        params.scope.start_date, params.scope.end_date
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body))
}

fn csv_line(row: &AggregatedRow, dims: &[Dimension]) -> String {
    let mut fields: Vec<String> = dims
        .iter()
        .map(|dimension| match dimension {
            Dimension::Date => row.date.map(|date| date.to_string()),
            Dimension::OfferId => row.offer_id.map(|id| id.to_string()),
            Dimension::Source => row.source.as_deref().map(escape),
        })
        .map(Option::unwrap_or_default)
        .collect();
    fields.push(row.clicks_count.to_string());
    let mut line = fields.join(",");
    line.push_str("\r\n");
    line
}

/// Whether an `Accept` header prefers CSV to JSON (RFC 9110 §12.5.1): media
/// types compared without regard to case, each answer weighed by the `q` of
/// the most specific range that matches it (`text/csv` over `text/*` over
/// `*/*`). A tie, or no header, is JSON, the default.
pub fn preferred(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    // (specificity, q) of the best-matching range for JSON and for CSV.
    let mut json: Option<(u8, f32)> = None;
    let mut csv: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|param| param.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, value)| {
                value.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0)
            });
        for (target, best) in [("application/json", &mut json), ("text/csv", &mut csv)] {
            let kind = target.split('/').next().unwrap_or_default();
            let specificity = if media == target {
                3
            } else if media.strip_suffix("/*") == Some(kind) {
                2
            } else if media == "*/*" {
                1
            } else {
                continue;
            };
            if best.is_none_or(|(known, _)| specificity > known) {
                *best = Some((specificity, q));
            }
        }
    }
    let weight = |best: Option<(u8, f32)>| best.map_or(0.0, |(_, q)| q);
    weight(csv) > weight(json)
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so
/// that spreadsheets do not run a source name as a formula.
pub fn escape(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\r', '\n']) || defused != value {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, preferred};

    #[test]
    fn accept_headers_are_negotiated_with_case_and_q_values() {
        for (accept, csv) in [
            (None, false),
            (Some("text/csv"), true),
            (Some("TEXT/CSV"), true),
            (Some("Text/Csv; charset=utf-8"), true),
            (Some("text/csv;q=0.1, application/json"), false),
            (Some("application/json;q=0.5, text/csv"), true),
            (Some("text/*, application/json;q=0.9"), true),
            (Some("*/*"), false),
            (Some("application/json, text/csv"), false),
            (Some("text/csv;q=0"), false),
            (Some("application/json;q=0, */*"), true),
            (Some("image/png"), false),
        ] {
            assert_eq!(preferred(accept), csv, "{accept:?}");
        }
    }

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(escape("network_1"), "network_1");
        assert_eq!(escape("a,b"), "\"a,b\"");
        assert_eq!(escape("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(escape("=cmd()"), "\"'=cmd()\"");
    }
}
