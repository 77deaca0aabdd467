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
    components(schemas(sdk::ApiError, sdk::ValidationError))
)]
struct ApiDoc;

pub async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
