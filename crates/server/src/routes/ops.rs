use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use dayshift_sdk as sdk;

use crate::state::AppState;

#[utoipa::path(get, path = "/healthz", responses((status = 200, body = sdk::Health), (status = 503, body = sdk::Health)))]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(sdk::Health {
                status: "ok".into(),
                database: "ok".into(),
            }),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(sdk::Health {
                status: "unavailable".into(),
                database: e.to_string(),
            }),
        ),
    }
}

/// Prometheus text format; job gauges are read from the database here so
/// every replica reports the same numbers.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(counts) = state.store.job_counts().await {
        for status in dayshift_store::JobStatus::ALL {
            let count = counts.get(status).copied().unwrap_or(0);
            metrics::gauge!("dayshift_provisioner_jobs", "status" => status.as_str())
                .set(count as f64);
        }
    }
    let body = state
        .prometheus
        .as_ref()
        .map(|handle| handle.render())
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
}
