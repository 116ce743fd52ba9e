//! The controller layer's error.

use crate::aws::AwsError;
use crate::core::task_definition_request::TranslateError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Translate(#[from] TranslateError),
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Deletion waits for something outside the operator; the finalizer stays.
    #[error("deletion waits: {0}")]
    DeletionBlocked(String),
    #[error("{0} has no namespace")]
    NoNamespace(String),
}

impl ReconcileError {
    /// Errors that are expected waits rather than failures.
    pub fn is_wait(&self) -> bool {
        matches!(self, Self::DeletionBlocked(_))
    }
}

impl From<kube::runtime::finalizer::Error<ReconcileError>> for ReconcileError {
    fn from(e: kube::runtime::finalizer::Error<ReconcileError>) -> Self {
        use kube::runtime::finalizer::Error;
        match e {
            Error::ApplyFailed(inner) | Error::CleanupFailed(inner) => inner,
            Error::AddFinalizer(k) | Error::RemoveFinalizer(k) => Self::Kube(k),
            other => Self::Finalizer(other.to_string()),
        }
    }
}
