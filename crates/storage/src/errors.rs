//! Which MySQL errors are worth retrying and which mean the data itself was
//! refused: the worker retries the first kind with the same batch and sets
//! aside the clicks behind the second.

use sea_orm::DbErr;

/// MySQL error numbers worth retrying: lock wait timeout, deadlock, and the
/// server going away or the connection dropping mid-query.
const TRANSIENT_ERROR_NUMBERS: [u16; 4] = [1205, 1213, 2006, 2013];

/// Errors worth retrying with the same batch: deadlocks, lock wait
/// timeouts and lost or unavailable connections.
pub fn is_transient(error: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    let sqlx_error = match error {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_error.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|mysql| TRANSIENT_ERROR_NUMBERS.contains(&mysql.number())),
        _ => false,
    }
}

/// MySQL refused the data itself (SQLSTATE class 22, data exception, or 23,
/// integrity constraint violation): retrying the same rows cannot help.
pub fn is_data_error(error: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
                _ => false,
            }
        }
        _ => false,
    }
}
