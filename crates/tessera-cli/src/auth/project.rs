//! A profile's active project, kept in its settings (`project_id`,
//! `project_name`), and the account's projects (`GET /v1/projects`). No
//! `tessera` command uses them yet; CLIs whose profiles carry a project do
//! (llamactl).

use crate::context::Ctx;
use crate::error::CliError;
use tessera_client::{ApiClient, Authorization, Error as ClientError};
use tessera_proto::api::Project;

pub const PROJECT_ID: &str = "project_id";
pub const PROJECT_NAME: &str = "project_name";

/// The projects `auth` may use on `client`'s server.
pub fn list(client: &ApiClient, auth: &Authorization) -> Result<Vec<Project>, ClientError> {
    client.projects(auth).map(|list| list.projects)
}

/// A new profile's settings for `project`.
pub fn settings(project: &Project) -> Vec<(String, String)> {
    vec![
        (PROJECT_ID.into(), project.id.clone()),
        (PROJECT_NAME.into(), project.name.clone()),
    ]
}

/// Makes `project` the active project of `profile`.
pub fn set(ctx: &Ctx, profile: &str, project: &Project) -> Result<(), CliError> {
    ctx.store.update(|config, _| {
        let entry = config
            .profiles
            .get_mut(profile)
            .ok_or_else(|| ClientError::UnknownProfile(profile.to_owned()))?;
        entry.settings.insert(PROJECT_ID.into(), project.id.clone());
        if project.name == project.id {
            entry.settings.remove(PROJECT_NAME);
        } else {
            entry
                .settings
                .insert(PROJECT_NAME.into(), project.name.clone());
        }
        Ok(())
    })?;
    Ok(())
}
