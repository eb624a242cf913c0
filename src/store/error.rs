use thiserror::Error;

/// What can go wrong below the protocol layers. Messages name the thing that
/// is wrong; SQL text never appears in them.
#[derive(Debug, Error)]
pub enum StoreError {
    /// PostgreSQL refused or failed a statement or a connection.
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool.
    #[error("database pool: {0}")]
    Pool(String),
    /// The database's schema is not the one this program was built for.
    #[error("{0}")]
    Schema(String),
    /// A named thing (user, mailbox, alias) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A named thing already exists, or (for the command line's deletions)
    /// something still refers to it.
    #[error("{0}")]
    Conflict(String),
    /// Something in use stands in the way: a mailbox that receives mail
    /// for an alias, or rows that changed under the operation, so that a
    /// later retry may succeed.
    #[error("{0}")]
    InUse(String),
    /// A hard limit was reached: a mailbox has run out of UIDs or modseqs.
    #[error("{0}")]
    Limit(String),
    /// The request itself is malformed (a bad name, address or list line).
    #[error("{0}")]
    Invalid(String),
    /// A policy of the archive forbids it (a retention policy keeps the
    /// mail a DELETE would expunge): no retry will succeed while it stands.
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    /// True when PostgreSQL refused for lack of privilege (SQLSTATE 42501).
    pub fn is_permission_denied(&self) -> bool {
        self.sqlstate() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    }

    /// True when PostgreSQL is stopping: a fast shutdown ends every session
    /// with admin_shutdown (57P01), and the connection is then closed.
    /// Background tasks treat this as the end of the database, not a fault.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.is_closed())
            || self.sqlstate() == Some(&tokio_postgres::error::SqlState::ADMIN_SHUTDOWN)
    }

    /// The SQLSTATE of a database error, if this is one.
    pub fn sqlstate(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            StoreError::Db(e) => e.code(),
            _ => None,
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Db(e),
            other => StoreError::Pool(other.to_string()),
        }
    }
}
