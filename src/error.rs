//! One error type for the whole API, with stable `SCREAMING_SNAKE` codes.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql has a
//! blanket `From<T: Display>` for its error type that would keep only the
//! message and drop the code. Our own `From<AppError>` below keeps both.

use async_graphql::ErrorExtensions;

/// What went wrong, in terms a client can act on.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    NotFound(&'static str),
    BadUserInput {
        field: String,
        message: String,
    },
    /// The request collides with the current state; `field` names the
    /// input that holds a value already taken (an email, a name).
    Conflict {
        field: Option<String>,
        message: String,
    },
    LimitExceeded(String),
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// Never shown to clients: logged with the request id, answered as `INTERNAL`.
    Internal(anyhow::Error),
}

impl AppError {
    pub fn not_found(entity: &'static str) -> Self {
        Self::NotFound(entity)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::Unauthenticated(message.into())
    }

    /// A state that forbids the request (a lead already converted).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            field: None,
            message: message.into(),
        }
    }

    /// A value that must be unique and is already taken, naming the field
    /// path that holds it (`input.email`).
    pub fn duplicate(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::LimitExceeded(message.into())
    }

    /// Bad input, naming the field path the client has to fix (e.g. `input.email`).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Puts the field under `prefix` (`subject` → `input.subject`), for
    /// checks that do not know where their value came from.
    pub fn with_field_prefix(self, prefix: &str) -> Self {
        match self {
            Self::BadUserInput { field, message } => Self::BadUserInput {
                field: format!("{prefix}{field}"),
                message,
            },
            Self::Conflict {
                field: Some(field),
                message,
            } => Self::duplicate(format!("{prefix}{field}"), message),
            other => other,
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// The input path a client has to fix, when the error names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::BadUserInput { field, .. }
            | Self::Conflict {
                field: Some(field), ..
            } => Some(field),
            _ => None,
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::Conflict { .. } => "CONFLICT",
            Self::LimitExceeded(_) => "LIMIT_EXCEEDED",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The message a client may see.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unauthenticated(m) | Self::Forbidden(m) | Self::LimitExceeded(m) => m.clone(),
            Self::Conflict {
                field: None,
                message,
            } => message.clone(),
            Self::RateLimited { message, .. } => message.clone(),
            Self::NotFound(entity) => format!("{entity} not found"),
            Self::BadUserInput { field, message }
            | Self::Conflict {
                field: Some(field),
                message,
            } => format!("{field}: {message}"),
            Self::Internal(_) => "internal error".to_owned(),
        }
    }
}

/// Maps a unique-constraint violation to `CONFLICT` on `field` (the input
/// that holds the taken value, when there is one), anything else to
/// `INTERNAL`. Services check first and answer the same; this catches the
/// race where two requests take the value at once.
pub fn on_unique(error: sea_orm::DbErr, field: Option<&str>, message: &str) -> AppError {
    match error.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict {
            field: field.map(str::to_owned),
            message: message.to_owned(),
        },
        _ => error.into(),
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Internal(error.into())
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(error: sea_orm::TransactionError<AppError>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(e) => e.into(),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        if let AppError::Internal(cause) = &error {
            // The surrounding span carries the request id (see http::request_span).
            tracing::error!(error = ?cause, "internal error");
        }
        let code = error.code();
        let mut gql = async_graphql::Error::new(error.public_message()).extend_with(|_, ext| {
            ext.set("code", code);
        });
        if let Some(field) = error.field() {
            let field = field.to_owned();
            gql = gql.extend_with(move |_, ext| ext.set("field", field.as_str()));
        }
        if let AppError::RateLimited {
            retry_after_secs, ..
        } = &error
        {
            let secs = *retry_after_secs;
            gql = gql.extend_with(move |_, ext| ext.set("retryAfterSeconds", secs));
        }
        gql
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// Reads the stable code back out of a GraphQL error (used by the audit log).
pub fn code_of(error: &async_graphql::ServerError) -> String {
    error
        .extensions
        .as_ref()
        .and_then(|ext| ext.get("code"))
        .and_then(|value| match value {
            async_graphql::Value::String(s) => Some(s.clone()),
            async_graphql::Value::Enum(e) => Some(e.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "BAD_USER_INPUT".to_owned())
}
