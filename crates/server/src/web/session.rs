//! Dashboard sessions: a cookie that holds a session token of the same
//! kind as the API's (`Dayshift-Session-Token`), so a browser's session is
//! listed and revoked with the others; signing in and out, and the CSRF
//! defences of every state-changing request.
//!
//! The cookie is `HttpOnly` (scripts cannot read it), `SameSite=Strict`
//! (other sites' pages never send it) and `Secure` when the server is told
//! it is behind HTTPS (`--secure-cookies`). On top of that every form
//! carries a CSRF token derived from the session's secret, checked here,
//! and a request whose `Origin` (or `Sec-Fetch-Site`) says it came from
//! another site is refused before anything else is looked at.

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dayshift_schedule::Timestamp;
use dayshift_store::SessionKind;
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::layout::{self, Fields};
use super::{WebError, WebResult};
use crate::auth::{self, CurrentUser};
use crate::login::ClientAddress;
use crate::state::AppState;

/// The cookie holding the session token.
pub const SESSION_COOKIE: &str = "dayshift_session";

/// Form bodies are small; a template upload is not done from a form.
const MAX_FORM: usize = 64 * 1024;

/// The signed-in viewer of a page.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: CurrentUser,
    /// The token of this form's session, to be sent back with every form.
    pub csrf: String,
    /// The server's clock when the request arrived.
    pub now: Timestamp,
    token: String,
}

impl Viewer {
    pub fn username(&self) -> &str {
        &self.user.0.username
    }

    pub fn is_owner(&self) -> bool {
        self.user.is_owner()
    }
}

/// The CSRF token of a session: a hash of its secret. Stateless (nothing
/// to store or share between replicas), unguessable without the cookie,
/// and different from the secret itself, which never appears in a page.
fn csrf_token(session_token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("dayshift-csrf:{session_token}").as_bytes(),
    ))
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> WebResult<Self> {
        let sign_in = || WebError::SignIn {
            next: parts
                .uri
                .path_and_query()
                .map_or("/".to_string(), |p| p.to_string()),
        };
        let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty())
        else {
            return Err(sign_in());
        };
        let (user, _session) = auth::session_for_token(state, token)
            .await?
            .ok_or_else(sign_in)?;
        Ok(Viewer {
            user: CurrentUser(user),
            csrf: csrf_token(token),
            now: state.clock.now(),
            token: token.to_string(),
        })
    }
}

/// Whether the request came from a page of this server: its `Origin`
/// names this host, or (browsers that send no `Origin`) `Sec-Fetch-Site`
/// says same-origin. Requests with neither (non-browser clients) are left
/// to the CSRF token.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    if let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) {
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

/// Constant-time comparison, so the token cannot be guessed byte by byte.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A state-changing request from a signed-in viewer: same origin, form
/// body with the session's CSRF token.
pub struct Action {
    pub viewer: Viewer,
    pub fields: Fields,
}

impl FromRequest<AppState> for Action {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> WebResult<Self> {
        let (mut parts, body) = request.into_parts();
        if !same_origin(&parts.headers) {
            return Err(WebError::Forbidden(
                "this request came from another site and was refused".into(),
            ));
        }
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let fields = read_form(body).await?;
        if !same_secret(fields.get("csrf"), &viewer.csrf) {
            return Err(WebError::Forbidden(
                "the form has expired or was not sent from this dashboard; reload the page and try again"
                    .into(),
            ));
        }
        Ok(Action { viewer, fields })
    }
}

async fn read_form(body: axum::body::Body) -> WebResult<Fields> {
    let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|e| {
        WebError::Api(crate::error::ApiErr::bad_request(format!(
            "form could not be read: {e}"
        )))
    })?;
    Fields::parse(&bytes)
}

/// The `Set-Cookie` value for a session token (`None`: remove the cookie).
fn session_cookie(state: &AppState, token: Option<&str>) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    match token {
        Some(token) => format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            crate::auth::SESSION_LIFETIME.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Where to go after signing in: a path on this server, never elsewhere.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/workspaces",
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
) -> Response {
    login_form(&state, query.next.as_deref(), None, StatusCode::OK)
}

fn login_form(
    state: &AppState,
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        main class="narrow" {
            h1 { "Sign in to dayshift" }
            @if let Some(error) = error {
                p class="flash error" role="alert" { (error) }
            }
            form method="post" action="/login" class="stack" {
                input type="hidden" name="next" value=(safe_next(next));
                label for="username" { "Username" }
                input id="username" name="username" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p class="muted" { "The first user is created with " code { "dayshift login" } "." }
        }
    };
    (
        status,
        layout::bare_page("Sign in", state.clock.now(), body),
    )
        .into_response()
}

/// Signs in with the API's own checks (`auth::authenticate`: throttling,
/// hashing off the async workers) and starts a session of kind `cookie`
/// (listed and revoked with the API's), handed to the browser as a cookie.
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    request: Request,
) -> WebResult<Response> {
    let (parts, body) = request.into_parts();
    if !same_origin(&parts.headers) {
        return Err(WebError::Forbidden(
            "this request came from another site and was refused".into(),
        ));
    }
    let fields = read_form(body).await?;
    let next = safe_next(Some(fields.get("next"))).to_string();
    let username = fields.get("username").trim().to_string();
    let user_agent = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("browser");
    let answer = match auth::authenticate(&state, &username, fields.get("password"), address).await
    {
        Ok(user) => auth::start_session(&state, &user, SessionKind::Cookie, user_agent)
            .await
            .map(|(token, _)| (user, token)),
        Err(e) => Err(e),
    };
    match answer {
        Ok((user, token)) => {
            let mut response = Redirect::to(&next).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&session_cookie(&state, Some(&token))) {
                response.headers_mut().insert(SET_COOKIE, cookie);
            }
            tracing::info!(username = %user.username, "signed in to the dashboard");
            Ok(response)
        }
        Err(e) => Ok(login_form(
            &state,
            Some(&next),
            Some(&e.body.message),
            e.status,
        )),
    }
}

/// Ends the session (the same row the API's logout ends) and drops the
/// cookie.
pub async fn logout(State(state): State<AppState>, action: Action) -> WebResult<Response> {
    auth::end_session(&state, &action.viewer.token).await?;
    let mut response = Redirect::to("/login").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session_cookie(&state, None)) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_must_be_this_host() {
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:7080"),
            ("origin", "http://127.0.0.1:7080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:7080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:7080"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:7080"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_origin(&headers(&[("host", "127.0.0.1:7080")])));
    }

    #[test]
    fn cookies_and_tokens() {
        let h = headers(&[("cookie", "a=1; dayshift_session=abc; b=2")]);
        assert_eq!(cookie_value(&h, SESSION_COOKIE), Some("abc"));
        assert_ne!(csrf_token("abc"), "abc");
        assert!(same_secret(&csrf_token("abc"), &csrf_token("abc")));
        assert!(!same_secret(&csrf_token("abc"), &csrf_token("abd")));
        assert_eq!(safe_next(Some("//evil.example")), "/workspaces");
        assert_eq!(safe_next(Some("/fleet?tz=UTC")), "/fleet?tz=UTC");
        assert_eq!(safe_next(Some("https://evil.example")), "/workspaces");
    }
}
