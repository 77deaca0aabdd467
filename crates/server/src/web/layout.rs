//! The page shell (navigation, flash messages, server time) and the small
//! formatting helpers every page shares.

use axum::http::StatusCode;
use dayshift_schedule::{format_duration, format_relative, SignedDuration, Timestamp};
use jiff::tz::TimeZone;
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use super::session::Viewer;
use super::{WebError, WebResult};
use crate::error::ApiErr;

/// The fields of a submitted form, in order (checkbox groups repeat a name).
#[derive(Debug, Clone, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> WebResult<Fields> {
        serde_urlencoded::from_bytes(body)
            .map(Fields)
            .map_err(|e| WebError::Api(ApiErr::bad_request(format!("form could not be read: {e}"))))
    }

    /// The first value of `name`, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The value of `name` trimmed, `None` when absent or blank.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every (name, value) pair.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A notice carried across a redirect in the query string (`?ok=` or
/// `?error=`), so every action works without JavaScript and without
/// server-side state.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    #[serde(default)]
    pub ok: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

impl Flash {
    pub fn render(&self) -> Markup {
        html! {
            @if let Some(message) = &self.error {
                p class="flash error" role="alert" { (message) }
            }
            @if let Some(message) = &self.ok {
                p class="flash ok" role="status" { (message) }
            }
        }
    }
}

/// Percent-encodes a query-string value.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `path` with a flash message: the result of an action.
pub fn with_flash(path: &str, result: Result<String, String>) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    match result {
        Ok(message) => format!("{path}{sep}ok={}", url_encode(&message)),
        Err(message) => format!("{path}{sep}error={}", url_encode(&message)),
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

const NAV: &[(&str, &str)] = &[
    ("/workspaces", "Workspaces"),
    ("/templates", "Templates"),
    ("/prebuilds", "Prebuilds"),
    ("/fleet", "Fleet"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · dayshift" }
            link rel="stylesheet" href=(format!("{}?v={}", super::assets::CSS_PATH, super::assets::version()));
            script src=(format!("{}?v={}", super::assets::JS_PATH, super::assets::version())) defer {}
        }
    }
}

/// A page of a signed-in viewer. `data-server-now` is the server's clock
/// (milliseconds): the script counts down from it, never from the
/// browser's clock.
pub fn page(viewer: &Viewer, current: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-server-now=(viewer.now.as_millisecond()) {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    nav aria-label="Main" {
                        a class="brand" href="/workspaces" { "dayshift" }
                        @for (href, label) in NAV {
                            @if *href == current {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                    form method="post" action="/logout" class="inline" {
                        (csrf(viewer))
                        span class="muted" { (viewer.username()) @if viewer.is_owner() { " (owner)" } }
                        " "
                        button type="submit" class="link" { "Sign out" }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// A page without navigation (sign-in, errors before sign-in).
pub fn bare_page(title: &str, now: Timestamp, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-server-now=(now.as_millisecond()) { (body) }
        }
    }
}

pub fn error_page(status: StatusCode, message: &str, detail: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Error"))
            body {
                main class="narrow" {
                    h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
                    p role="alert" { (message) }
                    @if let Some(detail) = detail { p class="muted" { (detail) } }
                    p { a href="/workspaces" { "Back to workspaces" } }
                }
            }
        }
    }
}

/// `in 10m` / `5m ago`, relative to the server's clock, rounded to the
/// minute.
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    let d = at.duration_since(now);
    let ms = d.as_millis();
    let rounded = if ms.abs() < 30_000 {
        d
    } else {
        let minutes = (ms.abs() + 30_000) / 60_000 * ms.signum();
        SignedDuration::from_mins(i64::try_from(minutes).unwrap_or(0))
    };
    format_relative(rounded)
}

/// A time the script keeps counting down: `in 3h12m` now, from the
/// server's clock.
pub fn countdown(at: Timestamp, now: Timestamp) -> Markup {
    html! {
        time datetime=(at.to_string()) data-deadline=(at.as_millisecond()) { (relative(at, now)) }
    }
}

/// `Mon 4 Jan 09:00 CET` in `zone`.
pub fn local_time(at: Timestamp, zone: &TimeZone) -> String {
    let zoned = at.to_zoned(zone.clone());
    zoned.strftime("%a %-d %b %H:%M %Z").to_string()
}

pub fn duration(d: SignedDuration) -> String {
    format_duration(d)
}

/// A policy duration where zero means off.
pub fn duration_or_off(d: SignedDuration) -> String {
    if d.is_zero() {
        "off".to_string()
    } else {
        format_duration(d)
    }
}

/// A zone from a page's `?tz=`, by IANA name; `None` when unknown.
pub fn zone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name.trim()).ok()
}

/// The zone picker: a GET form, so it works without the script.
pub fn zone_picker(action: &str, zone_name: &str, hidden: &[(&str, &str)]) -> Markup {
    html! {
        form method="get" action=(action) class="inline zone" {
            @for (name, value) in hidden {
                input type="hidden" name=(name) value=(value);
            }
            label for="tz" { "Time zone" }
            " "
            input id="tz" name="tz" value=(zone_name) list="zones" size="18";
            datalist id="zones" {
                @for z in COMMON_ZONES { option value=(z) {} }
            }
            " "
            button type="submit" { "Show" }
        }
    }
}

const COMMON_ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Helsinki",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
];

/// A status word as a badge, coloured by what it means.
pub fn status_badge(status: &str) -> Markup {
    let class = match status {
        "running" => "badge good",
        "starting" | "stopping" | "pending" | "deleting" | "canceling" => "badge busy",
        "failed" | "canceled" => "badge bad",
        _ => "badge",
    };
    html! { span class=(class) { (status) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_repeats_and_encoding_round_trips() {
        let f = Fields::parse(b"days=1&days=3&name=a+b&x=%3Cscript%3E").unwrap();
        assert_eq!(f.all("days").collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(f.get("name"), "a b");
        assert_eq!(f.get("x"), "<script>");
        assert_eq!(f.opt("missing"), None);
        assert_eq!(url_encode("a b&c"), "a%20b%26c");
        assert_eq!(with_flash("/w?x=1", Err("no".into())), "/w?x=1&error=no");
    }

    #[test]
    fn relative_rounds_to_the_minute() {
        let now: Timestamp = "2027-01-04T08:00:00Z".parse().unwrap();
        let at: Timestamp = "2027-01-04T09:59:59.9Z".parse().unwrap();
        assert_eq!(relative(at, now), "in 2h");
        assert_eq!(relative(now, at), "2h ago");
    }
}
