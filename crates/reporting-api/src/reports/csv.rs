//! `format=csv`: the aggregated rows as CSV, streamed from one MySQL query
//! (sqlx's row stream) so that a year of rows never sits in memory.
//!
//! A task reads rows and sends ~32 KiB chunks through a small channel; the
//! channel's bound is the backpressure, and a client that goes away closes
//! it, which ends the task and the query.

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use chrono::NaiveDate;
use futures_util::StreamExt;
use sea_orm::DatabaseConnection;
use sea_orm::sqlx::{self, Row};

use super::params::{AggregatedParams, Dimension};
use super::sql::{self as report_sql, Param};

const CHUNK_BYTES: usize = 32 * 1024;

pub fn response(db: &DatabaseConnection, params: &AggregatedParams) -> HttpResponse {
    let page = params.paged.then(|| (params.limit, params.offset()));
    let query = report_sql::aggregated_rows(params, page);
    let dims = params.group_by.dimensions().to_vec();
    let pool = db.get_mysql_connection_pool().clone();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);

    actix_web::rt::spawn(async move {
        let mut header: Vec<&str> = dims.iter().map(|d| d.name()).collect();
        header.push("clicks_count");
        let mut buffer = header.join(",");
        buffer.push_str("\r\n");
        let mut statement = sqlx::query(sqlx::AssertSqlSafe(query.sql.as_str()));
        for param in &query.params {
            statement = match param {
                Param::Date(date) => statement.bind(*date),
                Param::Hour(hour) => statement.bind(*hour),
                Param::Unsigned(n) => statement.bind(*n),
                Param::Text(text) => statement.bind(text.as_str()),
            };
        }
        let mut rows = statement.fetch(&pool);
        while let Some(row) = rows.next().await {
            let line = row
                .map_err(|e| e.to_string())
                .and_then(|row| csv_line(&row, &dims));
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
        let _ = sender.send(Ok(Bytes::from(buffer))).await;
    });

    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let filename = format!(
        "clicks-report-{}-{}.csv",
        params.scope.start_date, params.scope.end_date
    );
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body)
}

fn csv_line(row: &sqlx::mysql::MySqlRow, dims: &[Dimension]) -> Result<String, String> {
    let mut fields = Vec::with_capacity(dims.len() + 1);
    for (index, dimension) in dims.iter().enumerate() {
        let field = match dimension {
            Dimension::Date => row
                .try_get::<NaiveDate, _>(index)
                .map(|date| date.to_string()),
            Dimension::OfferId => row.try_get::<u64, _>(index).map(|id| id.to_string()),
            Dimension::Source => row.try_get::<String, _>(index).map(|s| escape(&s)),
        };
        fields.push(field.map_err(|e| e.to_string())?);
    }
    let count: u64 = row.try_get(dims.len()).map_err(|e| e.to_string())?;
    fields.push(count.to_string());
    let mut line = fields.join(",");
    line.push_str("\r\n");
    Ok(line)
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
    use super::escape;

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(escape("network_1"), "network_1");
        assert_eq!(escape("a,b"), "\"a,b\"");
        assert_eq!(escape("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(escape("=cmd()"), "\"'=cmd()\"");
    }
}
