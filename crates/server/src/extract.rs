//! Request extractors whose failures use the API's error shape.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiErr;

/// `axum::Json`, answering malformed bodies with a 400 that says what is
/// wrong (wrong type, missing field, unknown field, bad syntax).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiErr;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiErr {
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "request body must be JSON with Content-Type: application/json".to_string()
        }
        JsonRejection::JsonSyntaxError(_) => "request body is not valid JSON".to_string(),
        JsonRejection::JsonDataError(_) => {
            "request body does not match the expected shape".to_string()
        }
        JsonRejection::BytesRejection(_) => "request body could not be read".to_string(),
        _ => "invalid request body".to_string(),
    };
    let status = rejection.status();
    let detail = std::error::Error::source(&rejection)
        .map(|source| source.to_string())
        .unwrap_or_else(|| rejection.body_text());
    let mut err = ApiErr::bad_request(message).with_detail(detail);
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        err.status = status;
    }
    err
}

/// `axum::extract::Query` with API-shaped errors.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiErr {
    ApiErr::bad_request("invalid query string").with_detail(rejection.body_text())
}
