//! One keep-alive HTTP/1.1 connection on hyper's low-level client: no pool,
//! no per-request task, so the load generator costs the shared cores little.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

pub const SINGLE_PATH: &str = "/api/webhook/clicks";
pub const BATCH_PATH: &str = "/api/webhook/clicks/batch";
pub const HEALTH_PATH: &str = "/api/health";

/// Where requests go and how they are signed.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    host: HeaderValue,
    key: Arc<str>,
    /// `X-Sender`, when requests name their sender.
    sender: Option<HeaderValue>,
}

impl Target {
    /// A loopback address only: this harness never sends traffic elsewhere.
    pub fn new(addr: SocketAddr, key: &str) -> anyhow::Result<Self> {
        if !addr.ip().is_loopback() {
            bail!("{addr} is not a loopback address; the harness only targets this machine");
        }
        let host = HeaderValue::from_str(&addr.to_string()).context("host header")?;
        Ok(Self {
            addr,
            host,
            key: Arc::from(key),
            sender: None,
        })
    }

    /// The same target, its requests naming `sender` (`X-Sender`).
    pub fn naming(mut self, sender: &str) -> anyhow::Result<Self> {
        self.sender = Some(HeaderValue::from_str(sender).context("X-Sender")?);
        Ok(self)
    }

    /// `http://host:port[/…]` with a loopback host.
    pub fn from_url(url: &str, key: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("`{url}` must start with http://"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let addr = resolve_loopback(authority)?;
        Self::new(addr, key)
    }

    /// A signed JSON `POST` of `body`, as a webhook sender makes it.
    pub fn signed_post(
        &self,
        path: &'static str,
        body: Bytes,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let signature = domain::sign(self.key.as_bytes(), &body);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(sender) = &self.sender {
            request = request.header("x-sender", sender.clone());
        }
        request
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                "x-signature",
                HeaderValue::from_maybe_shared(Bytes::from(signature))?,
            )
            .body(Full::new(body))
            .context("build request")
    }

    pub fn get(&self, path: &'static str) -> anyhow::Result<Request<Full<Bytes>>> {
        Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, self.host.clone())
            .body(Full::new(Bytes::new()))
            .context("build request")
    }
}

/// Parses `host:port` (a literal IP or `localhost`, never a DNS lookup) and
/// insists on a loopback address.
pub fn resolve_loopback(authority: &str) -> anyhow::Result<SocketAddr> {
    let addr = match authority.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => {
            let port = authority
                .strip_prefix("localhost:")
                .and_then(|port| port.parse::<u16>().ok())
                .with_context(|| {
                    format!("`{authority}` is not IP:port or localhost:port on this machine")
                })?;
            SocketAddr::from(([127, 0, 0, 1], port))
        }
    };
    if !addr.ip().is_loopback() {
        bail!("`{authority}` is not on this machine (loopback only)");
    }
    Ok(addr)
}

/// Checks that the host of a `scheme://[user@]host[:port][/…]` URL is loopback.
pub fn ensure_loopback_url(url: &str) -> anyhow::Result<()> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("`{host}` in `{url}` is not a loopback host; the harness only uses this machine");
    }
    Ok(())
}

/// A connected HTTP/1.1 client connection; dropping it closes the socket.
pub struct HttpConn {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl HttpConn {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        let driver = tokio::spawn(async move {
            // The connection ends when the sender is dropped or the peer closes;
            // an error shows up on the next request anyway.
            let _ = connection.await;
        });
        Ok(Self { sender, driver })
    }

    /// Whether the peer has closed the connection (e.g. after answering with
    /// `connection: close`): a request sent now would not get through.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await.context("connection closed")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("send request")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("read response body")?
            .to_bytes();
        Ok((status, body))
    }
}

impl Drop for HttpConn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_pass() {
        for ok in [
            "redis://127.0.0.1:6379",
            "mysql://root@127.0.0.1:3306",
            "mysql://root:pw@localhost/db",
            "http://[::1]:8080/x",
            "redis://127.0.0.2",
        ] {
            assert!(ensure_loopback_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "redis://10.0.0.1:6379",
            "mysql://root@db:3306",
            "http://8.8.8.8",
        ] {
            assert!(ensure_loopback_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_refuse_remote_addresses() {
        assert!(Target::from_url("http://127.0.0.1:8080", "k").is_ok());
        assert!(Target::from_url("http://localhost:8080/", "k").is_ok());
        assert!(Target::from_url("http://192.168.1.1:8080", "k").is_err());
        assert!(Target::from_url("127.0.0.1:8080", "k").is_err());
        assert!(Target::from_url("http://example.com:80", "k").is_err());
        assert!(Target::from_url("http://[::1]:80", "k").is_ok());
    }
}
