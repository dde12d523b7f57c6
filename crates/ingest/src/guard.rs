//! Who may call the webhooks, and how often: an optional allowlist of
//! networks (`WEBHOOK_ALLOWED_IPS`, 403) and a token bucket per client IP
//! (`WEBHOOK_RATE_LIMIT` requests/s with `WEBHOOK_RATE_BURST`, 429 with
//! `Retry-After`).
//!
//! The client IP is the socket's peer, unless that peer is a trusted proxy
//! (`TRUSTED_PROXIES`): then it is the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy. An untrusted peer
//! cannot choose its own address by sending the header.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

/// How a request fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Forbidden,
    /// Over the rate; retry after this many whole seconds (at least 1).
    Limited {
        retry_after_secs: u64,
    },
}

/// A comma-separated list of CIDRs or single addresses.
pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{item}` is not an IP network (like 10.0.0.0/8 or ::1)"))
        })
        .collect()
}

#[derive(Clone)]
pub struct ClientGuard {
    allowed: Option<Arc<Vec<IpNet>>>,
    trusted: Arc<Vec<IpNet>>,
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl ClientGuard {
    /// `rate` 0 turns rate limiting off; an empty `allowed` list lets everyone in.
    pub fn new(allowed: Vec<IpNet>, trusted: Vec<IpNet>, rate: u32, burst: Option<u32>) -> Self {
        let limiter = NonZeroU32::new(rate).map(|rate| {
            let burst = burst.and_then(NonZeroU32::new).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        Self {
            allowed: (!allowed.is_empty()).then(|| Arc::new(allowed)),
            trusted: Arc::new(trusted),
            limiter,
        }
    }

    /// Forgets clients that have been quiet long enough to be back at a full
    /// bucket, so memory follows the active clients only. Run periodically.
    pub fn forget_idle_clients(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    pub fn judge(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Verdict {
        let Some(client) = self.client_ip(peer, forwarded_for) else {
            return if self.allowed.is_some() {
                Verdict::Forbidden
            } else {
                Verdict::Pass
            };
        };
        if let Some(allowed) = &self.allowed
            && !allowed.iter().any(|net| net.contains(&client))
        {
            return Verdict::Forbidden;
        }
        if let Some(limiter) = &self.limiter
            && let Err(not_until) = limiter.check_key(&client)
        {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            return Verdict::Limited {
                retry_after_secs: millis.div_ceil(1000).max(1),
            };
        }
        Verdict::Pass
    }

    /// The client's address; see the module documentation.
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let Some(header) = forwarded_for else {
            return Some(peer);
        };
        let hops: Vec<IpAddr> = header
            .split(',')
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect();
        hops.iter()
            .rev()
            .find(|hop| !self.is_trusted(**hop))
            .or(hops.first())
            .copied()
            .or(Some(peer))
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn nets(list: &str) -> Vec<IpNet> {
        parse_networks(list).expect("networks")
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let guard = ClientGuard::new(vec![], nets("10.0.0.0/8, ::1"), 0, None);
        // Untrusted peer: the header is ignored.
        assert_eq!(
            guard.client_ip(Some(ip("203.0.113.9")), Some("1.2.3.4")),
            Some(ip("203.0.113.9"))
        );
        // Trusted peer: the right-most untrusted hop.
        assert_eq!(
            guard.client_ip(
                Some(ip("10.0.0.2")),
                Some("6.6.6.6, 198.51.100.7, 10.0.0.9")
            ),
            Some(ip("198.51.100.7"))
        );
        // Trusted peer without the header, or with garbage only.
        assert_eq!(
            guard.client_ip(Some(ip("10.0.0.2")), None),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            guard.client_ip(Some(ip("::1")), Some("nonsense")),
            Some(ip("::1"))
        );
        // Everything trusted: the left-most hop.
        assert_eq!(
            guard.client_ip(Some(ip("10.0.0.2")), Some("10.9.9.9, 10.0.0.3")),
            Some(ip("10.9.9.9"))
        );
    }

    #[test]
    fn the_allowlist_takes_ipv4_and_ipv6_networks() {
        let guard = ClientGuard::new(
            nets("192.168.0.0/16, 2001:db8::/32, 127.0.0.1"),
            vec![],
            0,
            None,
        );
        assert_eq!(guard.judge(Some(ip("192.168.4.4")), None), Verdict::Pass);
        assert_eq!(guard.judge(Some(ip("2001:db8::5")), None), Verdict::Pass);
        assert_eq!(guard.judge(Some(ip("127.0.0.1")), None), Verdict::Pass);
        assert_eq!(guard.judge(Some(ip("8.8.8.8")), None), Verdict::Forbidden);
        assert_eq!(
            guard.judge(Some(ip("2001:db9::1")), None),
            Verdict::Forbidden
        );
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_networks("banana").is_err());
    }

    #[test]
    fn each_client_has_its_own_bucket() {
        let guard = ClientGuard::new(vec![], vec![], 1, Some(2));
        let a = Some(ip("198.51.100.1"));
        let b = Some(ip("198.51.100.2"));
        assert_eq!(guard.judge(a, None), Verdict::Pass);
        assert_eq!(guard.judge(a, None), Verdict::Pass);
        assert!(matches!(
            guard.judge(a, None),
            Verdict::Limited {
                retry_after_secs: 1
            }
        ));
        assert_eq!(
            guard.judge(b, None),
            Verdict::Pass,
            "another client is not affected"
        );
    }
}
