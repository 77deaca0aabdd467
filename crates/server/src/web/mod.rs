//! The web dashboard (DESIGN §7a), served by the same binary at `/`.
//!
//! Pages are rendered here from compile-checked maud templates; the CSS
//! and a small script are embedded in the binary. Every read-only page
//! works without JavaScript; the script only adds live countdowns and the
//! live build log. Every change a page makes goes through the same
//! handler as the API's route (`crate::routes`), so the lifecycle rules,
//! validation and messages are the API's own: a form is an adapter from
//! fields to the API's request type, nothing more.
//!
//! Sessions are cookies holding the same kind of session token as the
//! API's `Dayshift-Session-Token` (see `session.rs`); every state-changing
//! request carries a per-session CSRF token and must come from this origin.

mod assets;
mod charts;
mod fleet;
mod layout;
mod pools;
mod session;
mod templates;
mod workspace;
mod workspaces;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiErr;
use crate::state::AppState;

/// The dashboard's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/workspaces") }))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/static/{file}", get(assets::serve))
        .route(
            "/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route("/workspaces/new", get(workspaces::new_form))
        .route("/workspaces/{id}", get(workspace::page))
        .route("/workspaces/{id}/action", post(workspace::action))
        .route(
            "/workspaces/{id}/delete",
            get(workspace::confirm_delete).post(workspace::delete),
        )
        .route("/workspaces/{id}/extend", post(workspace::extend))
        .route("/workspaces/{id}/schedule", post(workspace::schedule))
        .route("/builds/{id}/log", get(workspace::log_lines))
        .route("/templates", get(templates::list))
        .route(
            "/templates/{name}",
            get(templates::page).post(templates::update),
        )
        .route("/prebuilds", get(pools::page))
        .route("/prebuilds/settings", post(pools::settings))
        .route("/fleet", get(fleet::page))
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// No valid session: go to the sign-in page, then come back.
    SignIn { next: String },
    /// A state-changing request without a valid CSRF token or from another
    /// origin.
    Forbidden(String),
    /// The API's answer, shown as a page.
    Api(ApiErr),
}

impl From<ApiErr> for WebError {
    fn from(e: ApiErr) -> Self {
        WebError::Api(e)
    }
}

impl From<dayshift_store::StoreError> for WebError {
    fn from(e: dayshift_store::StoreError) -> Self {
        WebError::Api(e.into())
    }
}

pub type WebResult<T> = Result<T, WebError>;

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn { next } => {
                Redirect::to(&format!("/login?next={}", layout::url_encode(&next))).into_response()
            }
            WebError::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                layout::error_page(StatusCode::FORBIDDEN, &message, None),
            )
                .into_response(),
            WebError::Api(e) => {
                let status = e.status;
                (
                    status,
                    layout::error_page(status, &e.body.message, e.body.detail.as_deref()),
                )
                    .into_response()
            }
        }
    }
}
