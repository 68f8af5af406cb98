//! `serve --dev`: seed a demo account, project, development-mode app and API key
//! into the throwaway database, and print them with the commands to try next.

use crate::api_keys::{self, NewApiKey};
use crate::apps::{self, NewApp};
use crate::error::Result;
use crate::services::AppState;

pub const DEMO_EMAIL: &str = "demo@example.com";
/// Client id of the public app `serve --dev` registers for the `tessera` CLI.
pub const CLI_CLIENT_ID: &str = apps::TESSERA_CLI.1;
/// The well-known client ids of the seed CLIs built on Tessera (`personas/`),
/// registered too, so that their OAuth logins work against a dev server.
pub const PERSONA_CLIENT_IDS: [(&str, &str); 2] = apps::PERSONA_APPS;

pub async fn seed_and_print(state: &AppState) -> Result<()> {
    let now = state.now();
    let store = &state.store;
    let account = crate::accounts::create(store, DEMO_EMAIL, now).await?;
    let project = crate::accounts::create_project(store, &account.id, "Demo project", now).await?;
    let app = apps::create(
        store,
        &account.id,
        NewApp {
            redirect_uris: vec![apps::LOOPBACK_REDIRECT_URI.into()],
            ..NewApp::named("Demo app")
        },
        now,
    )
    .await?;
    // The `tessera` CLI's well-known public client: `tessera auth login --web` and
    // `--device` work against a dev server without registering anything.
    let cli_app = apps::create(
        store,
        &account.id,
        NewApp::public_client(apps::TESSERA_CLI.0, CLI_CLIENT_ID),
        now,
    )
    .await?;
    for (name, client_id) in PERSONA_CLIENT_IDS {
        apps::create(
            store,
            &account.id,
            NewApp::public_client(name, client_id),
            now,
        )
        .await?;
    }
    let key = api_keys::issue(
        store,
        &state.keyring,
        &state.settings.issuer,
        &state.settings.api_key_prefix,
        NewApiKey {
            account_id: account.id.clone(),
            name: Some("demo".into()),
            scope: None,
            expires_at: None,
        },
        now,
    )
    .await?;
    let issuer = &state.settings.url("");
    let secret = app
        .client_secret
        .as_ref()
        .map(|s| s.expose_secret().to_owned())
        .unwrap_or_default();
    let api_key = key.key.expose_secret();
    // The `tessera` CLI talks to http://127.0.0.1:8080 unless TESSERA_URL says otherwise.
    let url_env = if issuer == "http://127.0.0.1:8080" {
        String::new()
    } else {
        format!("TESSERA_URL={issuer} ")
    };
    // Printed on purpose: this is a throwaway development database.
    println!(
        "\
tesserad (development mode) — throwaway database at {database}

  account        {email} ({account_id})
  project        {project_name} ({project_id})
  app            {app_name} (development mode)
    client_id      {client_id}
    client_secret  {secret}
  public app     {cli_app_name}: client_id {cli_client_id} (browser and device login)
                 and lofty-cli, llamactl (the seed CLIs' own client ids)
  API key        {key_id}
    {api_key}

Try next:
  {url_env}tessera auth login --api-key {api_key}
  {url_env}tessera auth login --device
  curl -H \"Authorization: token {api_key}\" {issuer}/v1/me
  open {issuer}/settings/api   (sign in as {email}; the code is printed here)
  tesserad admin --database {database} …   (admin commands on this database)
",
        database = state.settings.database,
        email = account.email,
        account_id = account.id,
        project_name = project.name,
        project_id = project.id,
        app_name = app.app.name,
        client_id = app.app.client_id,
        key_id = key.record.id,
        cli_app_name = cli_app.app.name,
        cli_client_id = cli_app.app.client_id,
    );
    Ok(())
}
