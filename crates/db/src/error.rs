/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// A uniqueness rule was broken (duplicate ledger index, consent record,
    /// policy version...). The whole write set was rolled back.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row could not be read back into its type: the database was
    /// changed behind the database's back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database could not do the call: I/O, connection, SQL or
    /// configuration error. Any write set was rolled back.
    #[error("database: {0}")]
    Backend(String),
    /// A conditional write's condition did not hold (a budget would be
    /// overspent). The whole write set was rolled back.
    #[error("refused: {0}")]
    Refused(String),
}

/// The result of every database call.
pub type Result<T, E = DatabaseError> = std::result::Result<T, E>;

impl From<rusqlite::Error> for DatabaseError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                DatabaseError::Conflict(e.to_string())
            }
            _ => DatabaseError::Backend(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for DatabaseError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => {
                DatabaseError::Conflict(e.to_string())
            }
            _ => DatabaseError::Backend(e.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for DatabaseError {
    fn from(e: tokio::task::JoinError) -> Self {
        DatabaseError::Backend(format!("store task failed: {e}"))
    }
}
