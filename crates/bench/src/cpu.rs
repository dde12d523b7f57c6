//! Where a load's CPU time goes: ingest, Redis (the one node, or the
//! cluster's masters and its replicas apart) and the bench process that
//! generates the load, read just before and just after the load. On a
//! machine whose cores everything shares, a throughput ratio follows these
//! figures, so they say what a topology costs and where.

/// `/proc` counts CPU time in USER_HZ ticks, 100 per second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// A process on this machine whose CPU time `/proc` shows.
pub struct Process {
    pub pid: u32,
}

impl Process {
    /// The bench itself, which generates the load.
    pub fn this() -> Self {
        Self {
            pid: std::process::id(),
        }
    }

    /// User plus system CPU seconds the process has used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        cpu_ticks(&stat).map(|ticks| ticks as f64 / TICKS_PER_SECOND)
    }
}

/// utime + stime of a `/proc/<pid>/stat` line (fields 14 and 15; the command
/// name in parentheses may hold spaces, so count from its closing one).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// CPU seconds used so far (a reading), or over a load (the difference of
/// two), by part; `None` for a part that could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    pub ingest: Option<f64>,
    /// The standalone node, or the cluster's masters.
    pub redis: Option<f64>,
    /// The cluster's replicas; `None` on a standalone node.
    pub replicas: Option<f64>,
    /// The bench process: mostly the load generator while a load runs.
    pub load: Option<f64>,
}

impl Cpu {
    /// What was spent from `earlier` to this reading.
    pub fn since(&self, earlier: &Self) -> Self {
        let spent = |now: Option<f64>, then: Option<f64>| Some(now? - then?);
        Self {
            ingest: spent(self.ingest, earlier.ingest),
            redis: spent(self.redis, earlier.redis),
            replicas: spent(self.replicas, earlier.replicas),
            load: spent(self.load, earlier.load),
        }
    }

    /// Adds another load's spending (a slice of an interleaved run).
    pub fn add(&mut self, other: &Self) {
        let sum = |one: Option<f64>, two: Option<f64>| Some(one? + two?);
        *self = Self {
            ingest: sum(self.ingest, other.ingest),
            redis: sum(self.redis, other.redis),
            replicas: sum(self.replicas, other.replicas),
            load: sum(self.load, other.load),
        };
    }

    /// `CPU per click: ingest 19.7 µs, Redis 3.0 µs, replicas 3.9 µs, load 11.6 µs`
    /// over `clicks` clicks; parts that could not be read are left out.
    pub fn per_click_text(&self, clicks: u64) -> Option<String> {
        let parts: Vec<String> = [
            ("ingest", self.ingest),
            ("Redis", self.redis),
            ("replicas", self.replicas),
            ("load", self.load),
        ]
        .into_iter()
        .filter_map(|(part, seconds)| {
            let micros = seconds? * 1e6 / clicks.max(1) as f64;
            Some(format!("{part} {micros:.2} µs"))
        })
        .collect();
        (clicks > 0 && !parts.is_empty()).then(|| format!("CPU per click: {}", parts.join(", ")))
    }

    /// The per-click figures in µs, for `--json`.
    pub fn per_click_json(&self, clicks: u64) -> serde_json::Value {
        let micros = |seconds: Option<f64>| seconds.map(|s| s * 1e6 / clicks.max(1) as f64);
        serde_json::json!({
            "ingest_us": micros(self.ingest),
            "redis_us": micros(self.redis),
            "replicas_us": micros(self.replicas),
            "load_us": micros(self.load),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        let stat =
            "4242 (mariadbd (x) y) S 1 4242 4242 0 -1 4194560 123 0 0 0 750 250 0 0 20 0 30 0";
        assert_eq!(cpu_ticks(stat), Some(1000));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(Process::this().cpu_seconds().is_some());
    }

    #[test]
    fn spending_is_the_difference_of_two_readings_per_click() {
        let before = Cpu {
            ingest: Some(10.0),
            redis: Some(2.0),
            replicas: None,
            load: Some(5.0),
        };
        let after = Cpu {
            ingest: Some(12.0),
            redis: Some(2.5),
            replicas: None,
            load: Some(6.0),
        };
        let mut spent = after.since(&before);
        assert_eq!(spent.replicas, None, "a standalone node has no replicas");
        assert_eq!(
            spent.per_click_text(100_000).as_deref(),
            Some("CPU per click: ingest 20.00 µs, Redis 5.00 µs, load 10.00 µs")
        );
        spent.add(&spent.clone());
        assert_eq!(spent.ingest, Some(4.0));
        assert_eq!(spent.per_click_json(400_000)["redis_us"], 2.5);
        let unread = Cpu {
            ingest: None,
            ..after
        };
        assert_eq!(
            unread.since(&before).ingest,
            None,
            "an unread part stays unread"
        );
        assert_eq!(Cpu::default().per_click_text(1000), None);
    }
}
