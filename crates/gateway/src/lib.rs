//! The gateway of `deploy/gateway/` (nginx with its njs health aggregator),
//! run here the way the compose file runs it but in front of local ports, so
//! tests can send real requests through the real configuration.
//!
//! Needs `nginx` and its njs module (`ngx_http_js_module.so`); on Debian the
//! packages `nginx` and `libnginx-mod-http-js`, which `make deploy-tools`
//! installs.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// The directory of the template and of `health.js`.
pub const GATEWAY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/gateway");
/// Where the template loads the njs module from, on Debian and in the official image alike.
pub const NJS_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_js_module.so";
/// How long nginx may take to listen, and to stop.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at a free port (another process may take the one picked first).
const START_ATTEMPTS: u32 = 3;

/// The ports of the three programs behind the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Upstreams {
    pub ingest: u16,
    pub reporting_api: u16,
    pub worker: u16,
}

/// Replaces every `${NAME}` of `vars` in `template`, like `envsubst` restricted
/// to those names, and fails if a `${GATEWAY_…}` placeholder is left.
pub fn render(template: &str, vars: &[(&str, String)]) -> Result<String, String> {
    let mut text = template.to_owned();
    for (name, value) in vars {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    match text.find("${GATEWAY_") {
        Some(at) => {
            let rest = &text[at..];
            let end = rest.find('}').map_or(rest.len(), |i| i + 1);
            Err(format!("unfilled placeholder {}", &rest[..end]))
        }
        None => Ok(text),
    }
}

/// The template's variables for a gateway on `listen` in front of `upstreams` on 127.0.0.1.
pub fn local_vars(listen: u16, upstreams: Upstreams) -> Vec<(&'static str, String)> {
    let gateway_dir = Path::new(GATEWAY_DIR);
    vec![
        ("GATEWAY_LISTEN", format!("127.0.0.1:{listen}")),
        ("GATEWAY_INGEST", format!("127.0.0.1:{}", upstreams.ingest)),
        (
            "GATEWAY_REPORTING",
            format!("127.0.0.1:{}", upstreams.reporting_api),
        ),
        ("GATEWAY_WORKER", format!("127.0.0.1:{}", upstreams.worker)),
        // Never asked: every address above is a literal.
        ("GATEWAY_RESOLVER", "127.0.0.1".to_owned()),
        ("GATEWAY_NJS_PATH", gateway_dir.display().to_string()),
    ]
}

/// A running nginx with the gateway's configuration; stopped when dropped.
pub struct Gateway {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Gateway {
    /// Renders the template into a directory of its own and starts nginx on a free port.
    pub async fn start(upstreams: Upstreams) -> Result<Self, String> {
        if !Path::new(NJS_MODULE).exists() {
            return Err(format!(
                "{NJS_MODULE} is missing: install nginx and its njs module (make deploy-tools)"
            ));
        }
        let template = std::fs::read_to_string(Path::new(GATEWAY_DIR).join("nginx.conf.template"))
            .map_err(|e| format!("reading the gateway template: {e}"))?;
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let config = render(&template, &local_vars(port, upstreams))?;
            match Self::spawn(&config, port).await {
                Ok(gateway) => return Ok(gateway),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    async fn spawn(config: &str, port: u16) -> Result<Self, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "clicks-gateway-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).map_err(|e| format!("{}: {e}", conf.display()))?;
        let errors = dir.join("error.log");
        let stderr = std::fs::File::create(&errors).map_err(|e| format!("{e}"))?;
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(&errors)
            .arg("-g")
            .arg(format!(
                "daemon off; pid {};",
                dir.join("nginx.pid").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting nginx: {e}"))?;
        let mut gateway = Self { child, dir, port };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = gateway.child.try_wait() {
                let log = std::fs::read_to_string(&errors).unwrap_or_default();
                return Err(format!("nginx exited ({status}): {log}"));
            }
            if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .is_ok()
            {
                return Ok(gateway);
            }
            if Instant::now() >= deadline {
                gateway.child.start_kill().ok();
                return Err(format!(
                    "nginx did not listen on {port} within {START_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What nginx wrote to its error log so far (for failing assertions).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Gateway {
    /// Stops nginx through its master, which stops its workers: killing the
    /// master alone would leave them running, still listening.
    fn drop(&mut self) {
        std::process::Command::new(nginx_binary())
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .arg("-e")
            .arg(self.dir.join("error.log"))
            .arg("-g")
            .arg(format!("pid {};", self.dir.join("nginx.pid").display()))
            .args(["-s", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.start_kill().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// `$NGINX`, else `nginx` from `PATH`, else Debian's `/usr/sbin/nginx`.
fn nginx_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NGINX") {
        return PathBuf::from(path);
    }
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nginx"))
            .find(|candidate| candidate.is_file())
    });
    in_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_every_placeholder_or_names_the_missing_one() {
        let template = "listen ${GATEWAY_LISTEN}; server ${GATEWAY_INGEST}; $remote_addr";
        let vars = [
            ("GATEWAY_LISTEN", "8080".to_owned()),
            ("GATEWAY_INGEST", "ingest:8080 resolve".to_owned()),
        ];
        assert_eq!(
            render(template, &vars).as_deref(),
            Ok("listen 8080; server ingest:8080 resolve; $remote_addr")
        );
        assert_eq!(
            render(template, &vars[..1]),
            Err("unfilled placeholder ${GATEWAY_INGEST}".to_owned())
        );
    }

    #[test]
    fn the_template_has_exactly_the_local_variables() {
        let template = std::fs::read_to_string(Path::new(GATEWAY_DIR).join("nginx.conf.template"))
            .expect("template");
        let upstreams = Upstreams {
            ingest: 1,
            reporting_api: 2,
            worker: 3,
        };
        let config =
            render(&template, &local_vars(4, upstreams)).expect("every placeholder filled");
        assert!(config.contains("server 127.0.0.1:1;"), "{config}");
        assert!(config.contains("listen 127.0.0.1:4 "), "{config}");
    }
}
