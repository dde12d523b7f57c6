//! A TCP proxy in front of several servers that hands each new connection
//! to the next one in turn, like a load balancer in front of replicas: a
//! client pool behind it holds connections to every server at once, so a
//! test can make one pool see servers that lag differently.

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Listens on a free port of 127.0.0.1 until dropped; dropping it also cuts
/// every connection it carries.
pub struct RoundRobinProxy {
    port: u16,
    accepting: JoinHandle<()>,
}

impl RoundRobinProxy {
    /// Connection n goes to `upstream_ports[n % len]` on 127.0.0.1.
    pub async fn start(upstream_ports: Vec<u16>) -> Self {
        assert!(!upstream_ports.is_empty(), "a proxy needs an upstream");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let port = listener.local_addr().expect("bound address").port();
        let accepting = tokio::spawn(accept(listener, upstream_ports));
        Self { port, accepting }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for RoundRobinProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Accepts forever; the carried connections live in a set owned by this
/// task, so they end with it.
async fn accept(listener: TcpListener, upstream_ports: Vec<u16>) {
    let mut carried = JoinSet::new();
    for upstream in upstream_ports.iter().cycle() {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        carried.spawn(carry(client, *upstream));
    }
}

async fn carry(mut client: TcpStream, upstream: u16) {
    if let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}
