//! The OpenAPI document, generated from the handlers' annotations.

use dayshift_sdk as sdk;
use utoipa::OpenApi;

use crate::routes::*;

#[derive(OpenApi)]
#[openapi(
    info(title = "dayshift", description = "Lifecycle of developer workspaces"),
    paths(
        users::create_first_user,
        users::login,
        users::create_user,
        users::list_users,
        users::me,
        users::logout,
        users::list_sessions,
        users::end_session,
        users::end_sessions_of_user,
        users::end_my_sessions,
        users::change_password,
        templates::list,
        templates::create,
        templates::get,
        templates::update,
        templates::create_version,
        templates::list_versions,
        workspaces::list,
        workspaces::get,
        workspaces::get_by_name,
        workspaces::create,
        workspaces::create_build,
        workspaces::list_builds,
        workspaces::build_logs,
        workspaces::set_autostart,
        workspaces::set_ttl,
        workspaces::extend,
        workspaces::report_usage,
        workspaces::set_dormant,
        schedule::get_preview,
        prebuilds::list,
        prebuilds::update_settings,
        debug::set_clock,
        ops::healthz,
        provisioner::acquire,
        provisioner::template_bundle,
        provisioner::append_logs,
        provisioner::heartbeat,
        provisioner::complete,
    ),
    components(schemas(sdk::ApiError, sdk::ValidationError)),
    modifiers(&Conventions)
)]
struct ApiDoc;

/// The document, built once.
pub async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    axum::Json(DOCUMENT.get_or_init(ApiDoc::openapi).clone())
}

/// What every operation can answer besides what its annotation lists, and
/// how it is authenticated: added to the generated document so it is exact
/// without repeating the same responses on every handler.
struct Conventions;

/// Operations anyone may call (no session).
const PUBLIC: &[&str] = &[
    "/api/v2/users/first",
    "/api/v2/users/login",
    "/healthz",
    "/metrics",
    "/api/v2/openapi.json",
];

impl utoipa::Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                sdk::SESSION_TOKEN_HEADER,
                "a session token from POST /api/v2/users/login",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the same session token as `Authorization: Bearer`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "provisioner_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                sdk::PROVISIONER_KEY_HEADER,
                "the server's --provisioner-psk (external provisioner daemons)",
            ))),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let public = PUBLIC.contains(&path.as_str());
            let provisioner = path.starts_with("/api/v2/provisioner/");
            for operation in [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error_response(description));
                };
                if provisioner {
                    operation.security = Some(vec![SecurityRequirement::new(
                        "provisioner_key",
                        Vec::<String>::new(),
                    )]);
                    add("401", "no or a wrong provisioner key");
                    add("403", "the server has no provisioner key configured");
                } else if !public {
                    operation.security = Some(vec![
                        SecurityRequirement::new("session_token", Vec::<String>::new()),
                        SecurityRequirement::new("bearer", Vec::<String>::new()),
                    ]);
                    add("401", "no session, or an expired or ended one");
                }
                let has_path =
                    operation.parameters.iter().flatten().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path)
                    });
                if has_path {
                    add(
                        "404",
                        "not found, or not visible to the caller (the same answer)",
                    );
                }
                let has_body = operation.request_body.is_some();
                let has_query =
                    operation.parameters.iter().flatten().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
                    });
                if has_body || has_query {
                    add(
                        "400",
                        "the request does not fit: the answer names the field and the rule",
                    );
                }
                if has_body {
                    add("413", "request body over 32 MiB");
                    add(
                        "415",
                        "request body is not JSON (Content-Type: application/json)",
                    );
                }
            }
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ApiError")))
                .build(),
        )
        .build()
        .into()
}
