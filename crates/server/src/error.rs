//! API errors: every failure becomes a 4xx/5xx with the body of DESIGN §7.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dayshift_sdk::{ApiError, ValidationError};
use dayshift_store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiErr {
    pub status: StatusCode,
    pub body: ApiError,
    /// Seconds, sent as `Retry-After` (429 answers).
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiErr>;

impl ApiErr {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiErr {
            status,
            body: ApiError {
                message: message.into(),
                detail: None,
                validations: Vec::new(),
            },
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 400 naming the offending field.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut err = Self::bad_request(format!("invalid {field}: {detail}"));
        err.body.validations.push(ValidationError {
            field: field.to_string(),
            detail,
        });
        err
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.body.detail = Some(detail.into());
        self
    }
}

impl From<StoreError> for ApiErr {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiErr::not_found(format!("{what} not found")),
            StoreError::Conflict(message) => ApiErr::conflict(message),
            StoreError::Busy(id) => ApiErr::conflict(format!("workspace {id} is busy, try again")),
            StoreError::InvalidInput { field, detail } => ApiErr::invalid(field, detail),
            other => {
                tracing::warn!(error = %other, "database failure");
                ApiErr::internal("internal database error").with_detail(other.to_string())
            }
        }
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
