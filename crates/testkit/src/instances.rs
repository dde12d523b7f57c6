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

mod mariadb;
mod process;
mod redis;

pub use self::mariadb::MariaDbInstance;
pub use self::redis::{RedisInstance, RedisOptions};
