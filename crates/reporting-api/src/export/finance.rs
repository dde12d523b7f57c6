//! The Finance service as seen from the export: `GET /health` and
//! `POST /clicks` with retries.
//!
//! A chunk is retried, with exponential backoff and jitter, on connection
//! errors, timeouts, 408, 429 and 5xx (a `Retry-After` in seconds is
//! honoured), at most `FINANCE_MAX_RETRIES` times. Any other 4xx is Finance
//! refusing the chunk: retrying cannot help, so it fails at once with
//! Finance's answer. Every attempt sends the same bytes with the same
//! `Idempotency-Key`.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use crate::FinanceSettings;
use secrecy::{ExposeSecret, SecretString};

/// Longest wait between two attempts, whatever the backoff or `Retry-After` say.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// `GET /health` gets at most this long, so that status pages stay quick.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of Finance's answer is kept in `last_error`.
const MAX_ANSWER_CHARS: usize = 500;

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const SIGNATURE: &str = "X-Signature";

#[derive(Clone)]
pub struct FinanceClient {
    http: reqwest::Client,
    base_url: String,
    token: Option<SecretString>,
    signing_secret: Option<SecretString>,
    max_retries: u32,
    retry_base: Duration,
    timeout: Duration,
}

/// Why a chunk was not delivered; the text goes to `last_error`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// A 4xx other than 408 and 429: Finance will not take this chunk.
    #[error("{0}")]
    Refused(String),
    /// Still failing after every retry.
    #[error("{0}")]
    GaveUp(String),
}

impl FinanceClient {
    pub fn new(settings: &FinanceSettings) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(settings.finance_service_timeout);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()?;
        Ok(Self {
            http,
            base_url: settings.finance_service_url.base().to_owned(),
            token: settings.finance_service_token.clone(),
            signing_secret: settings.finance_signing_secret.clone(),
            max_retries: settings.finance_max_retries,
            retry_base: Duration::from_millis(settings.finance_retry_base_ms),
            timeout,
        })
    }

    /// How long sending one chunk can take at worst, retries included.
    pub fn worst_case_send(&self) -> Duration {
        let attempts = self.max_retries + 1;
        self.timeout * attempts + MAX_RETRY_DELAY * self.max_retries
    }

    /// Whether `GET /health` answers 2xx.
    pub async fn is_available(&self) -> bool {
        let request = self
            .http
            .get(format!("{}/health", self.base_url))
            .timeout(self.timeout.min(HEALTH_TIMEOUT));
        match request.send().await {
            Ok(response) => response.status().is_success(),
            Err(error) => {
                tracing::warn!(error = error_chain(&error), "Finance health check failed");
                false
            }
        }
    }

    /// Posts one chunk to `/clicks` until Finance takes it, refuses it, or
    /// the retries run out.
    pub async fn send_chunk(&self, body: Bytes, idempotency_key: &str) -> Result<(), SendError> {
        let url = format!("{}/clicks", self.base_url);
        let signature = self
            .signing_secret
            .as_ref()
            .map(|secret| domain::sign(secret.expose_secret().as_bytes(), &body));
        let mut retry = 0;
        loop {
            let mut request = self
                .http
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .header(IDEMPOTENCY_KEY, idempotency_key)
                .body(body.clone());
            if let Some(token) = &self.token {
                request =
                    request.header(AUTHORIZATION, format!("Bearer {}", token.expose_secret()));
            }
            if let Some(signature) = &signature {
                request = request.header(SIGNATURE, signature);
            }
            let (problem, retry_after) = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    let answer = answer_text(response).await;
                    let problem = format!("Finance answered {status}{answer}");
                    if !is_retryable(status) {
                        return Err(SendError::Refused(problem));
                    }
                    (problem, retry_after)
                }
                Err(error) if error.is_timeout() => (
                    format!("Finance did not answer within {:?}", self.timeout),
                    None,
                ),
                Err(error) => (
                    format!("cannot reach Finance: {}", error_chain(&error)),
                    None,
                ),
            };
            if retry >= self.max_retries {
                return Err(SendError::GaveUp(format!(
                    "{problem} (gave up after {} attempts)",
                    retry + 1
                )));
            }
            let delay = retry_after
                .unwrap_or_else(|| backoff(self.retry_base, retry))
                .min(MAX_RETRY_DELAY);
            tracing::warn!(
                idempotency_key,
                retry = retry + 1,
                delay_ms = delay.as_millis() as u64,
                problem,
                "Finance did not take a chunk; retrying"
            );
            metrics::counter!(super::EXPORT_RETRIES_TOTAL).increment(1);
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }
}

fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// `base · 2^retry`, capped, with "equal jitter": half of it fixed, half random,
/// so that exporters failing together do not retry together.
pub fn backoff(base: Duration, retry: u32) -> Duration {
    let full = base
        .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
        .min(MAX_RETRY_DELAY);
    let half = full / 2;
    let jitter_ms = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter_ms)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Finance).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// `: <body>`, shortened, or nothing for an empty body.
async fn answer_text(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut short: String = text.chars().take(MAX_ANSWER_CHARS).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    format!(": {short}")
}

/// An error with its causes, `a: b: c`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for retry in 0..5 {
            let full = base * 2u32.pow(retry);
            let delay = backoff(base, retry);
            assert!(delay >= full / 2 && delay <= full, "{retry}: {delay:?}");
        }
        assert!(backoff(base, 40) <= MAX_RETRY_DELAY);
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for code in [500, 502, 503, 504, 429, 408] {
            assert!(is_retryable(StatusCode::from_u16(code).expect("code")));
        }
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!is_retryable(StatusCode::from_u16(code).expect("code")));
        }
    }
}
