//! Shared by the reporting-key tests: a keys file in a directory of its own
//! (rewritten atomically, as a deploy would), and requests made with a
//! given key.
#![allow(dead_code)]

use std::path::PathBuf;

use crate::reports_support::Api;
use serde_json::Value;

/// A keys file (`CLICKS_KEYS_FILE`) of one test.
pub struct KeysFile {
    dir: PathBuf,
    pub path: PathBuf,
}

impl KeysFile {
    pub fn new(text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("reporting-keys-{}", testkit::unique_suffix()));
        std::fs::create_dir_all(&dir).expect("keys dir");
        let file = Self {
            path: dir.join("keys.toml"),
            dir,
        };
        file.write(text);
        file
    }

    /// Replaces the content at once (a new file renamed over the old), so
    /// the API never reads half a file.
    pub fn write(&self, text: &str) {
        let next = self.dir.join("keys.toml.next");
        std::fs::write(&next, text).expect("write keys file");
        std::fs::rename(&next, &self.path).expect("rename keys file");
    }

    /// `--clicks-keys-file=<path>`.
    pub fn flag(&self) -> String {
        format!("--clicks-keys-file={}", self.path.display())
    }

    pub fn remove(self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// A `[[reporting_key]]` entry with the key itself (`key = …`); `extra`
/// lines (sources, offers) are appended.
pub fn entry(name: &str, key: &str, scopes: &[&str], extra: &str) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "[[reporting_key]]\nname = \"{name}\"\nkey = \"{key}\"\nscopes = [{}]\n{extra}\n",
        scopes.join(", ")
    )
}

/// GET with `key`; the status and the JSON body.
pub async fn json_as(api: &Api, key: &str, path_and_query: &str) -> (u16, Value) {
    let response = api.get_raw_as(key, path_and_query).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

/// GET with `key`, expecting 200; the JSON body.
pub async fn ok_as(api: &Api, key: &str, path_and_query: &str) -> Value {
    let (status, body) = json_as(api, key, path_and_query).await;
    assert_eq!(status, 200, "{path_and_query} as {key}: {body}");
    body
}

/// `POST /api/export/forward` with `key` and `body`; the status and JSON body.
pub async fn forward_as(api: &Api, key: &str, body: &str) -> (u16, Value) {
    let response = api
        .client
        .post(format!("{}/api/export/forward", api.base))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("forward");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

/// The 403 body of a key without `scope`.
pub fn forbidden(scope: &str) -> Value {
    serde_json::json!({
        "error": "Forbidden",
        "details": {"scope": [format!("This key does not have the {scope} scope.")]},
    })
}
