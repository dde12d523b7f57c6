//! Private Redis and MariaDB servers for tests that stop, kill or restart a
//! dependency.
//!
//! The shared servers (`TEST_REDIS_URL`, `TEST_DATABASE_URL`) are never
//! touched: each instance is a process of its own, listening on a free port
//! of 127.0.0.1, with its data in a temporary directory of its own. Dropping
//! the instance kills the process and removes the directory.
//!
//! [`RedisInstance::stop`] / [`MariaDbInstance::stop`] shut the server down
//! gracefully (SIGTERM), `kill` sends SIGKILL, and `restart` starts it again
//! on the same port with the same data: a client configured with `url()`
//! sees the same server come back, as after a restart in production.
//!
//! - `redis`: one `redis-server`, optionally behind TLS (a throwaway CA made
//!   by `tls`), a password or an ACL user ([`RedisOptions`]).
//! - `redis_cluster`: six of them as a Redis Cluster, three masters and three
//!   replicas, whose nodes a test kills and restarts to see failovers.
//! - `mariadb`: a `mariadbd` started from a prepared data directory.
//! - `replication`: a `mariadbd` primary and a replica of it (binlog
//!   replication), whose replication a test pauses to make the replica lag.
//! - `process`: spawning, waiting for and stopping any of these.

mod mariadb;
mod process;
mod redis;
mod redis_cluster;
mod replication;
mod tls;

pub use self::mariadb::MariaDbInstance;
pub use self::redis::{RedisInstance, RedisOptions};
pub use self::redis_cluster::RedisCluster;
pub use self::replication::MariaDbReplicaPair;
pub use self::tls::TlsFiles;
