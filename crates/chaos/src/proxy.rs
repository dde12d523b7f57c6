//! A TCP proxy that misbehaves on request: put between the workers and
//! MariaDB, it adds latency, resets connections (RST, as a dropped NAT entry
//! or a restarted load balancer would), or refuses new ones.
//!
//! Faults are switched at any time from the scenario while traffic flows;
//! every connection picks up the new setting with its next chunk.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The faults in force.
#[derive(Debug, Default)]
struct Faults {
    delay_ms: AtomicU64,
    /// Chance, per million forwarded chunks, that the connection is reset.
    reset_per_million: AtomicU32,
    refuse: AtomicBool,
    connections: AtomicU64,
    resets: AtomicU64,
}

/// What the proxy has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStats {
    pub connections: u64,
    pub resets: u64,
}

pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
    /// Bumped to reset every open connection at once.
    cut: watch::Sender<u64>,
    shutdown: CancellationToken,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the fault proxy")?;
        let addr = listener.local_addr()?;
        let faults = Arc::new(Faults::default());
        let (cut, _) = watch::channel(0u64);
        let shutdown = CancellationToken::new();
        tokio::spawn(accept_loop(
            listener,
            upstream,
            Arc::clone(&faults),
            cut.clone(),
            shutdown.clone(),
        ));
        Ok(Self {
            addr,
            faults,
            cut,
            shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Latency added to every chunk, both ways.
    pub fn set_delay(&self, delay: Duration) {
        self.faults
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Chance that forwarding a chunk resets its connection instead, 0 to 1.
    pub fn set_reset_chance(&self, chance: f64) {
        let per_million = (chance.clamp(0.0, 1.0) * 1e6) as u32;
        self.faults
            .reset_per_million
            .store(per_million, Ordering::Relaxed);
    }

    /// New connections are reset as soon as they are accepted.
    pub fn set_refusing(&self, refuse: bool) {
        self.faults.refuse.store(refuse, Ordering::Relaxed);
    }

    /// Resets every open connection now.
    pub fn reset_all(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Back to a faithful proxy.
    pub fn heal(&self) {
        self.set_delay(Duration::ZERO);
        self.set_reset_chance(0.0);
        self.set_refusing(false);
    }

    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            connections: self.faults.connections.load(Ordering::Relaxed),
            resets: self.faults.resets.load(Ordering::Relaxed),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.reset_all();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    faults: Arc<Faults>,
    cut: watch::Sender<u64>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return,
        };
        let Ok((client, _)) = accepted else {
            continue;
        };
        faults.connections.fetch_add(1, Ordering::Relaxed);
        if faults.refuse.load(Ordering::Relaxed) {
            faults.resets.fetch_add(1, Ordering::Relaxed);
            reset(client);
            continue;
        }
        let faults = Arc::clone(&faults);
        let cut = cut.subscribe();
        tokio::spawn(async move {
            match TcpStream::connect(upstream).await {
                Ok(server) => relay(client, server, &faults, cut).await,
                // The upstream is down: the client sees what it would see.
                Err(_) => reset(client),
            }
        });
    }
}

/// How one direction of a connection ended.
enum End {
    Closed,
    Reset,
}

async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    faults: &Faults,
    mut cut: watch::Receiver<u64>,
) {
    let end = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        tokio::select! {
            end = pump(&mut client_read, &mut server_write, faults) => end,
            end = pump(&mut server_read, &mut client_write, faults) => end,
            _ = cut.changed() => End::Reset,
        }
    };
    if matches!(end, End::Reset) {
        faults.resets.fetch_add(1, Ordering::Relaxed);
        reset(client);
        reset(server);
    }
}

async fn pump(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    faults: &Faults,
) -> End {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return End::Closed,
            Ok(n) => n,
        };
        let chance = faults.reset_per_million.load(Ordering::Relaxed);
        if chance > 0 && rand::rng().random_range(0..1_000_000) < chance {
            return End::Reset;
        }
        let delay = faults.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return End::Closed;
        }
    }
}

/// Closes with RST instead of FIN: `SO_LINGER` 0, then close.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(text).await?;
        let mut buf = vec![0u8; text.len()];
        stream.read_exact(&mut buf).await?;
        Ok(buf)
    }

    #[tokio::test]
    async fn forwards_faithfully_until_told_otherwise() {
        let proxy = FaultProxy::start(echo().await).await.expect("proxy");
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            round_trip(&mut stream, b"hello").await.expect("echo"),
            b"hello"
        );

        proxy.set_delay(Duration::from_millis(100));
        let started = std::time::Instant::now();
        assert_eq!(
            round_trip(&mut stream, b"slow").await.expect("echo"),
            b"slow"
        );
        // Delayed both ways.
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        proxy.heal();
        assert_eq!(proxy.stats().resets, 0);
    }

    #[tokio::test]
    async fn reset_all_cuts_open_connections_and_refusing_cuts_new_ones() {
        let proxy = FaultProxy::start(echo().await).await.expect("proxy");
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut stream, b"x").await.expect("echo"), b"x");
        proxy.reset_all();
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the reset arrives");
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{read:?}"
        );

        proxy.set_refusing(true);
        let mut refused = TcpStream::connect(proxy.addr()).await.expect("accepted");
        assert!(round_trip(&mut refused, b"y").await.is_err());
        proxy.set_refusing(false);
        let mut again = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut again, b"z").await.expect("echo"), b"z");
        assert_eq!(proxy.stats().resets, 2);
        assert_eq!(proxy.stats().connections, 3);
    }

    #[tokio::test]
    async fn a_reset_chance_of_one_resets_on_the_first_chunk() {
        let proxy = FaultProxy::start(echo().await).await.expect("proxy");
        proxy.set_reset_chance(1.0);
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert!(round_trip(&mut stream, b"doomed").await.is_err());
        assert_eq!(proxy.stats().resets, 1);
    }
}
