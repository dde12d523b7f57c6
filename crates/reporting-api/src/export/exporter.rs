//! Exporting one date to Finance: take the date's lease, re-send the chunk
//! a previous run left unacknowledged, then send every click not yet in a
//! chunk, `FINANCE_EXPORT_CHUNK_SIZE` at a time, and release the lease.
//!
//! Each chunk is first *assigned* (its rows get the chunk number, and the
//! record notes it as pending, in one transaction), then sent, then
//! *acknowledged* in the record. A crash or failure anywhere leaves either
//! rows not in any chunk (sent by the next run) or one pending chunk (re-sent
//! by the next run with the same bytes and `Idempotency-Key`). Memory holds
//! one chunk at a time, whatever the size of the day.
//!
//! Late clicks: ids are not in commit order, so a click committed after the
//! walk passed its id would be missed by keyset alone. Every run (and every
//! pass of a run) compares the date's `COUNT(*)` with the clicks Finance has
//! acknowledged; while they differ it walks the date again from the start
//! for rows not in a chunk. Rows are never deleted, so equal counts mean
//! every click of the date was delivered.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use rand::Rng;
use sea_orm::{DatabaseConnection, DbErr};
use tracing::Instrument;

use super::chunk::{self, ExportRow};
use super::finance::{FinanceClient, SendError};
use super::record::{self, Lease, NewChunk, RecordError};
use crate::FinanceSettings;

/// Walks over the date in one run before settling for what it delivered
/// (clicks still arriving for the date are left to the next run).
const MAX_PASSES: u32 = 3;
/// Margin of the lease over the longest a single step can take.
const LEASE_MARGIN: Duration = Duration::from_secs(60);

/// What a finished export did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub date: NaiveDate,
    /// Clicks sent by this run.
    pub sent_now: u64,
    /// Clicks Finance holds for the date, over every run.
    pub clicks_sent: u64,
    /// The date's clicks at the last count.
    pub total_clicks: u64,
}

impl Delivered {
    pub fn undelivered(&self) -> u64 {
        self.total_clicks.saturating_sub(self.clicks_sent)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Another exporter holds the date's lease.
    #[error("Export already running")]
    AlreadyRunning,
    /// Finance did not take a chunk; recorded as the run's `last_error`.
    #[error("{message}")]
    Finance { message: String, clicks_sent: u64 },
    #[error("the export lease of this date was lost to another exporter")]
    LeaseLost,
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

impl From<RecordError> for ExportError {
    fn from(error: RecordError) -> Self {
        match error {
            RecordError::LeaseLost => Self::LeaseLost,
            RecordError::Db(error) => Self::Db(error),
        }
    }
}

/// Progress of one date, for a progress bar: `(clicks sent so far, total)`.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

#[derive(Clone)]
pub struct Exporter {
    db: DatabaseConnection,
    finance: FinanceClient,
    chunk_size: u32,
}

impl Exporter {
    pub fn new(db: DatabaseConnection, settings: &FinanceSettings) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            finance: FinanceClient::new(settings)?,
            chunk_size: settings.finance_export_chunk_size,
        })
    }

    pub fn finance(&self) -> &FinanceClient {
        &self.finance
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Exports `date`; see the module documentation.
    pub async fn export_date(
        &self,
        date: NaiveDate,
        progress: Option<ProgressFn>,
    ) -> Result<Delivered, ExportError> {
        let lease = Lease {
            date,
            owner: lease_owner(),
            seconds: (self.finance.worst_case_send() + LEASE_MARGIN).as_secs(),
        };
        let Some(record) = record::acquire(&self.db, &lease).await? else {
            return Err(ExportError::AlreadyRunning);
        };
        let mut run = Run {
            exporter: self,
            lease: &lease,
            progress,
            delivered: Delivered {
                date,
                sent_now: 0,
                clicks_sent: record.clicks_sent,
                total_clicks: record.total_clicks,
            },
            chunks_sent: record.chunks_sent.max(record.pending_chunk),
        };
        let span = tracing::info_span!("export", %date, attempt = record.attempts);
        let outcome = run.go(&record).instrument(span).await;
        let result = match outcome {
            Ok(()) => record::finish(&self.db, &lease, None)
                .await
                .map(|()| run.delivered.clone())
                .map_err(ExportError::from),
            Err(ExportError::Finance { message, .. }) => {
                record::finish(&self.db, &lease, Some(&message)).await?;
                Err(ExportError::Finance {
                    message,
                    clicks_sent: run.delivered.clicks_sent,
                })
            }
            Err(ExportError::Db(error)) => {
                // Best effort: the lease runs out anyway if this fails too.
                let _ = record::finish(&self.db, &lease, Some(&format!("database error: {error}")))
                    .await;
                Err(ExportError::Db(error))
            }
            Err(other) => Err(other),
        };
        let outcome = match &result {
            Ok(_) => "completed",
            Err(ExportError::AlreadyRunning) => "already_running",
            Err(_) => "failed",
        };
        metrics::counter!(super::EXPORT_RUNS_TOTAL, "outcome" => outcome).increment(1);
        match &result {
            Ok(done) => tracing::info!(
                %date,
                sent_now = done.sent_now,
                clicks_sent = done.clicks_sent,
                total_clicks = done.total_clicks,
                "export completed"
            ),
            Err(error) => tracing::warn!(%date, error = %error, "export failed"),
        }
        result
    }
}

/// Unique per run, so that two runs in one process never share a lease.
fn lease_owner() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let host: String = host.chars().take(32).collect();
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::rng().random::<u32>()
    )
}

struct Run<'a> {
    exporter: &'a Exporter,
    lease: &'a Lease,
    progress: Option<ProgressFn>,
    delivered: Delivered,
    /// The highest chunk number used for the date so far.
    chunks_sent: u32,
}

impl Run<'_> {
    async fn go(
        &mut self,
        record: &storage::entity::click_export::Model,
    ) -> Result<(), ExportError> {
        let db = &self.exporter.db;
        let date = self.lease.date;
        if record.pending_chunk > 0 {
            let rows = chunk::rows_of_chunk(
                db,
                date,
                record.pending_chunk,
                record.pending_first_id,
                record.pending_last_id,
            )
            .await?;
            tracing::info!(
                chunk = record.pending_chunk,
                clicks = rows.len(),
                "re-sending the unacknowledged chunk"
            );
            self.send(record.pending_chunk, record.pending_total, &rows)
                .await?;
        }
        for _ in 0..MAX_PASSES {
            let total = chunk::count_clicks(db, date).await?;
            self.delivered.total_clicks = total;
            record::note_total(db, self.lease, total).await?;
            self.report();
            if self.delivered.clicks_sent >= total {
                break;
            }
            let mut after = 0;
            loop {
                let rows =
                    chunk::next_unassigned(db, date, after, self.exporter.chunk_size).await?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                let number = self.chunks_sent + 1;
                let ids: Vec<u64> = rows.iter().map(|row| row.id).collect();
                // A pass may meet clicks committed since the count.
                let total = total.max(self.delivered.clicks_sent + rows.len() as u64);
                self.delivered.total_clicks = total;
                record::assign(
                    db,
                    self.lease,
                    &NewChunk {
                        number,
                        ids: &ids,
                        total_clicks: total,
                    },
                )
                .await?;
                self.chunks_sent = number;
                self.send(number, total, &rows).await?;
            }
        }
        Ok(())
    }

    /// Sends chunk `number` and records Finance's acknowledgement.
    async fn send(
        &mut self,
        number: u32,
        total: u64,
        rows: &[ExportRow],
    ) -> Result<(), ExportError> {
        let date = self.lease.date;
        let body = chunk::body(date, total, rows);
        let key = chunk::idempotency_key(date, number, &body);
        self.exporter
            .finance
            .send_chunk(body, &key)
            .await
            .map_err(|error| {
                let message = match error {
                    SendError::Refused(text) | SendError::GaveUp(text) => {
                        format!("chunk {number} ({} clicks): {text}", rows.len())
                    }
                };
                ExportError::Finance {
                    message,
                    clicks_sent: self.delivered.clicks_sent,
                }
            })?;
        let clicks = rows.len() as u64;
        metrics::counter!(super::EXPORT_CHUNKS_TOTAL).increment(1);
        metrics::counter!(super::EXPORT_CLICKS_TOTAL).increment(clicks);
        record::acknowledge(&self.exporter.db, self.lease, number, clicks).await?;
        self.delivered.clicks_sent += clicks;
        self.delivered.sent_now += clicks;
        self.report();
        Ok(())
    }

    fn report(&self) {
        if let Some(progress) = &self.progress {
            progress(self.delivered.clicks_sent, self.delivered.total_clicks);
        }
    }
}
