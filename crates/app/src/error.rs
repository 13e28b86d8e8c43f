//! What can go wrong in a use case, in the application's words. The HTTP
//! crate maps each variant to a status and a stable code in one table
//! (`fineline_server::error`); the CLI prints the message.

use crate::budget::Remaining;

/// A use case's failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// One field of the request is wrong; `field` is its path (`events[3].subject`).
    #[error("{message}")]
    InvalidField {
        /// Where the problem is.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request is wrong as a whole.
    #[error("{0}")]
    BadRequest(String),
    /// No credential, or one nobody issued.
    #[error("missing or unknown credentials")]
    Unauthorized,
    /// A request whose own signature is its credential (a device's erasure
    /// request) is not signed by the key registered for it; `field` is
    /// what failed: the signature, or the pseudonym no key is registered for.
    #[error("{message}")]
    SignatureRefused {
        /// `signature` or `pseudonym`.
        field: String,
        /// Why.
        message: String,
    },
    /// A subject token that is forged, malformed or expired.
    #[error("subject token is invalid or expired")]
    InvalidToken,
    /// A valid credential without the right to do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request collides with what exists (`field`, if one is at fault).
    #[error("{message}")]
    Conflict {
        /// The field whose value collides, if one does.
        field: Option<String>,
        /// What collides.
        message: String,
    },
    /// Consent was given under a policy version that is no longer current.
    #[error("consent can only be given under the current policy (version {current}); this person was shown version {shown}")]
    PolicyOutdated {
        /// The current version.
        current: u32,
        /// The version the person was shown.
        shown: u32,
    },
    /// A DP release would overspend the analyst's budget; nothing was charged.
    #[error("{message}")]
    BudgetExhausted {
        /// What was asked and what is left, in words.
        message: String,
        /// The account as it stands, when known.
        remaining: Option<Box<Remaining>>,
        /// What the refused release would have cost, when known.
        asked: Option<fineline_insights::Cost>,
    },
    /// Work only the deployment's leader does was sent to another
    /// replica (foot-traffic sightings); it should go to the leader.
    #[error("{0}")]
    NotLeader(String),
    /// A service the answer needs (the analytic engine cluster) failed or
    /// did not answer in time; nothing was released or charged. Retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed (no personal data in its message).
    #[error("database: {0}")]
    Database(#[from] fineline_db::DatabaseError),
    /// The key store or the key file failed.
    #[error("vault: {0}")]
    Vault(#[from] fineline_vault::VaultError),
    /// Anything else that is ours, not the caller's: a stored record that
    /// does not decode, a task that died.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// [`AppError::InvalidField`].
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
    /// [`AppError::BadRequest`].
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::BadRequest(message.into())
    }
    /// [`AppError::Forbidden`].
    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }
    /// [`AppError::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        AppError::NotFound(message.into())
    }
    /// [`AppError::Conflict`] with no field at fault.
    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            field: None,
            message: message.into(),
        }
    }
    /// [`AppError::Internal`]: a failure that is ours. Its text must not
    /// quote personal data (database, vault and codec errors carry none).
    pub fn internal(err: impl std::fmt::Display) -> Self {
        AppError::Internal(err.to_string())
    }
    /// Whether the fault is ours rather than the caller's.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            AppError::Database(_) | AppError::Vault(_) | AppError::Internal(_)
        )
    }
}
