//! Request extractors whose failures use the API's error shape: a body or
//! query that does not fit names the field in `validations`, in words a
//! client can act on (never a Rust type or a library's parameter name).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiErr;

/// Largest request body (template uploads are base64 JSON).
pub const MAX_BODY: usize = 32 * 1024 * 1024;

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
    match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            let mut err = ApiErr::bad_request(
                "request body must be JSON with Content-Type: application/json",
            );
            err.status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            err
        }
        JsonRejection::JsonSyntaxError(_) => {
            let detail = source_chain(&rejection)
                .find_map(|e| e.downcast_ref::<serde_json::Error>().map(|e| e.to_string()))
                .unwrap_or_default();
            ApiErr::bad_request("request body is not valid JSON").with_detail(detail)
        }
        JsonRejection::JsonDataError(_) => {
            let found = source_chain(&rejection).find_map(|e| {
                e.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>()
                    .map(|e| (e.path().to_string(), e.inner().to_string()))
            });
            match found {
                Some((path, message)) => shape_error(&path, &message),
                None => ApiErr::bad_request("request body does not match the expected shape"),
            }
        }
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
        _ => ApiErr::bad_request("request body could not be read"),
    }
}

/// The 413 of a body over [`MAX_BODY`].
pub fn body_too_large() -> ApiErr {
    let mut err = ApiErr::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request body is larger than the limit of {} MiB",
            MAX_BODY / (1024 * 1024)
        ),
    );
    err.body.detail = Some(format!("limit: {MAX_BODY} bytes"));
    err
}

fn source_chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// `axum::extract::Query` with API-shaped errors.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|e| {
                let mut err = shape_error(&e.path().to_string(), &e.inner().to_string());
                err.body.message = err.body.message.replacen("request body", "query string", 1);
                err
            })
    }
}

/// A 400 for a value that does not fit the expected shape, naming the
/// field (`path`, or the one serde's message names) and what was expected.
fn shape_error(path: &str, message: &str) -> ApiErr {
    let quoted = between_backticks(message);
    let (field, detail) = if let Some(field) = message
        .strip_prefix("missing field ")
        .and(quoted.as_deref())
    {
        (join_path(path, field), "is required".to_string())
    } else if message.starts_with("unknown field ") {
        let field = quoted.unwrap_or_default();
        (
            join_path(path, &field),
            "is not a field of this request".to_string(),
        )
    } else if let Some(rest) = message.strip_prefix("unknown variant ") {
        let allowed = rest
            .split_once("expected ")
            .map(|(_, e)| e.replace('`', "\""))
            .unwrap_or_default();
        (
            field_or_body(path),
            format!(
                "{} is not allowed: expected {allowed}",
                quoted.map(|q| format!("{q:?}")).unwrap_or_default()
            ),
        )
    } else if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let got = got.replace('`', "");
        (
            field_or_body(path),
            format!("expected {}, got {got}", friendly_expectation(expected)),
        )
    } else if message.starts_with("invalid length") {
        (
            field_or_body(path),
            "has the wrong number of items".to_string(),
        )
    } else {
        // Values with their own parsers (timestamps): their messages name
        // library internals, so say what is expected instead.
        (
            field_or_body(path),
            "is not a valid value here (times are RFC 3339, e.g. 2027-01-04T08:00:00Z)".to_string(),
        )
    };
    let mut err = ApiErr::bad_request(format!(
        "request body does not match the expected shape: {field} {detail}"
    ));
    err.body
        .validations
        .push(dayshift_sdk::ValidationError { field, detail });
    err
}

fn between_backticks(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

fn join_path(path: &str, field: &str) -> String {
    if path.is_empty() || path == "." {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn field_or_body(path: &str) -> String {
    if path.is_empty() || path == "." {
        "body".to_string()
    } else {
        path.to_string()
    }
}

/// serde's expectation in JSON's words (`struct Foo` is an object, `u32`
/// a non-negative integer).
fn friendly_expectation(expected: &str) -> String {
    let e = expected.trim();
    if e.starts_with("struct ") || e == "a map" || e.starts_with("map") {
        "an object".into()
    } else if e == "a sequence" || e.starts_with("a sequence") {
        "an array".into()
    } else if e.starts_with("a string") || e == "string" {
        "a string".into()
    } else if e == "a boolean" || e == "bool" {
        "true or false".into()
    } else if matches!(e, "u8" | "u16" | "u32" | "u64" | "usize") {
        "a non-negative integer".into()
    } else if matches!(e, "i8" | "i16" | "i32" | "i64" | "isize") {
        "an integer".into()
    } else if e.starts_with("f32") || e.starts_with("f64") {
        "a number".into()
    } else if e.starts_with("enum ") || e.starts_with("variant ") {
        "one of the documented values".into()
    } else if e.contains("timestamp") || e.contains("Timestamp") {
        "an RFC 3339 time, e.g. 2027-01-04T08:00:00Z".into()
    } else if e.is_empty() {
        "another value".into()
    } else if e.chars().next().is_some_and(|c| c.is_uppercase()) || e.contains("::") {
        // A type name of ours: say nothing of it.
        "another kind of value".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_errors_name_the_field_and_no_types() {
        let e = shape_error(".", "missing field `name`");
        assert_eq!(e.body.validations[0].field, "name");
        assert_eq!(e.body.validations[0].detail, "is required");
        let e = shape_error("ttl_ms", "invalid type: string \"x\", expected i64");
        assert_eq!(e.body.validations[0].field, "ttl_ms");
        assert_eq!(
            e.body.validations[0].detail,
            "expected an integer, got string \"x\""
        );
        let e = shape_error(
            ".",
            "invalid type: integer `1`, expected struct CreateWorkspaceRequest",
        );
        assert!(
            !e.body.message.contains("CreateWorkspaceRequest"),
            "{}",
            e.body.message
        );
        assert_eq!(e.body.validations[0].field, "body");
        let e = shape_error("deadline", "parameter 'Unix timestamp seconds' is not in the required range of -377705116800..=253402207200");
        assert!(!e.body.message.contains("parameter"), "{}", e.body.message);
        assert_eq!(e.body.validations[0].field, "deadline");
        let e = shape_error(".", "unknown field `nope`, expected `name` or `template`");
        assert_eq!(e.body.validations[0].field, "nope");
        let e = shape_error(
            "transition",
            "unknown variant `fly`, expected one of `start`, `stop`, `delete`",
        );
        assert_eq!(
            e.body.validations[0].detail,
            "\"fly\" is not allowed: expected one of \"start\", \"stop\", \"delete\""
        );
    }
}
