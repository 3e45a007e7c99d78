//! Answers for requests no route takes.

use crate::error::ApiError;

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// axum adds the `Allow` header to this answer itself.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
