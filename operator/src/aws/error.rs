//! The AWS adapter's error: what went wrong, in words a user can act on, and
//! whether trying again can help.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;

/// An AWS call that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    /// AWS answered with an error.
    #[error("{operation} failed: {code}: {message}")]
    Api { operation: &'static str, code: String, message: String, retryable: bool },
    /// The request never got an answer (network, timeout, credentials).
    #[error("{operation} failed: {message}")]
    Transport { operation: &'static str, message: String },
}

// Error codes that mean "later may work" rather than "change the request".
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "UpdateInProgressException",
    "ResourceInUse",
    "ResourceInUseException",
];

impl AwsError {
    /// Classifies an SDK error.
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("Unknown").to_string();
                let message = e.message().unwrap_or("no message").to_string();
                let retryable = RETRYABLE_CODES.contains(&code.as_str()) || code == "Unknown";
                Self::Api { operation, code, message, retryable }
            }
            _ => Self::Transport { operation, message: error_chain(&err) },
        }
    }

    /// Whether the same call may succeed later without a change of spec.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { retryable, .. } => *retryable,
            Self::Transport { .. } => true,
        }
    }

    /// The AWS error code, if AWS answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            Self::Transport { .. } => None,
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `Ok(None)` when the call failed with one of `codes`: the thing is already gone,
/// which for a delete or a lookup is not an error.
pub fn absent_if<T>(result: Result<T, AwsError>, codes: &[&str]) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.code().is_some_and(|c| codes.contains(&c)) => Ok(None),
        Err(err) => Err(err),
    }
}
