//! Every word `lua` prints, every file and variable it names, as
//! `lua-cli-auth.txt` documents them.

use tessera_cli::host::ErrorTexts;
use tessera_cli::texts::{SourceWords, describe, printable};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::{AppSpec, DirDefault, Found, KeychainProblem};

/// Every name `lua` uses for its files and variables.
pub const LUA: AppSpec = AppSpec {
    name: "lua",
    config_dir_env: "LUA_CONFIG_DIR",
    config_dir_default: DirDefault::Home(".lua-cli"),
    config_file: "config.toml",
    credentials_file: "credentials",
    api_key_env: "LUA_API_KEY",
    profile_env: "LUA_PROFILE",
    url_env: "LUA_API_URL",
    default_url: "http://127.0.0.1:8080",
    dotenv_file: Some(".env"),
    dotenv_key: "LUA_API_KEY",
    log_env: "LUA_LOG",
    key_login: "lua auth configure --api-key KEY",
    credentials_format: tessera_client::CredentialsFormat::BareKey { profile: "default" },
};

pub const ERRORS: ErrorTexts = ErrorTexts {
    error: "❌ ",
    not_logged_in: "Error: ",
    cancelled: Some("Operation cancelled."),
    hint: "",
    unreachable: Some("Check that the Lua API is reachable (LUA_API_URL or --api-url)."),
    insecure_http: None,
};

/// Where a key came from, in the words of the resolution-order table.
const SOURCES: SourceWords = SourceWords {
    credentials_file: "{path}",
    dotenv: ".env file ({path})",
};

// --- help -----------------------------------------------------------------------

pub const ABOUT: &str = "Lua CLI";
pub const ENVIRONMENT_HELP: &str = "\
Environment variables:
  LUA_API_KEY     API key; takes priority over ~/.lua-cli/credentials and .env
  LUA_API_URL     API server (default http://127.0.0.1:8080); --api-url overrides it
  LUA_CONFIG_DIR  use this directory instead of ~/.lua-cli
  LUA_TELEMETRY   accepted (e.g. LUA_TELEMETRY=false); this CLI never sends telemetry

Key resolution order: LUA_API_KEY, then ~/.lua-cli/credentials, then LUA_API_KEY=... in .env";
pub const API_URL: &str = "API server URL (overrides LUA_API_URL)";
pub const AUTH: &str = "Manage authentication";
pub const CONFIGURE: &str = "Set up authentication";
pub const KEY: &str = "Display stored key";
pub const LOGOUT: &str = "Remove credentials";
pub const API_KEY: &str =
    "Set API key directly. Best for CI/CD where you already have a key from the dashboard.";
pub const EMAIL: &str = "Request an OTP to be sent to this email. Step 1 of the OTP flow.";
pub const OTP: &str = "Verify the 6-digit code from email and generate an API key. Step 2 of the OTP flow (combine with --email).";
pub const CONFIGURE_HELP: &str = tessera_cli::with_examples!(
    "  # on a terminal: choose an API key or an emailed code
  {command}
  # CI/CD, with a key from the dashboard
  {command} --api-key \"lk_xxx...\"
  # a code by email, then the code for a new key
  {command} --email dev@example.com
  {command} --email dev@example.com --otp 123456"
);
pub const KEY_HELP: &str = tessera_cli::with_examples!(
    "  {command}
  export LUA_API_KEY=$({command} --force)"
);
pub const LOGOUT_HELP: &str = tessera_cli::with_examples!(
    "  {command}
  {command} --force"
);
pub const FORCE_KEY: &str = "Skip the confirmation prompt (useful in scripts)";
pub const FORCE_LOGOUT: &str = "Skip the confirmation prompt";

// --- prompts ------------------------------------------------------------------

pub const CHOOSE_METHOD: &str = "Choose an authentication method:";
pub const METHODS: [&str; 2] = ["API Key", "Email (one-time code)"];
pub const ENTER_KEY: &str = "Enter your API key:";
pub const ENTER_EMAIL: &str = "Enter your email:";
pub const ENTER_CODE: &str = "Enter the 6-digit code:";
pub const SHOW_KEY: &str = "This will display your API key. Are you sure you want to continue?";
pub const SHOW_KEY_WHAT: &str = "displaying your API key";
pub const DELETE_KEY: &str =
    "Are you sure you want to delete your API key? This action cannot be undone.";
pub const DELETE_KEY_WHAT: &str = "deleting your API key";
pub const NEEDS_FLAGS: &str = "lua auth configure asks how to authenticate, but stdin is not a terminal; \
     pass --api-key <key>, or --email <email> to get a code and then \
     --email <email> --otp <code>";

// --- errors ---------------------------------------------------------------------

/// `Error: No API key found.` and its three documented fixes.
pub fn no_api_key() -> CliError {
    CliError::NotLoggedIn {
        message: "No API key found.".into(),
        hint: "\
Authenticate using one of:
  lua auth configure          # Interactive setup (stores in ~/.lua-cli/credentials)
  export LUA_API_KEY=your-key # Environment variable
  echo \"LUA_API_KEY=key\" >> .env  # .env file"
            .into(),
    }
}

pub fn authentication_failed(reason: &str) -> CliError {
    CliError::Expired {
        message: "Authentication failed".into(),
        hint: format!(
            "The server did not accept this API key ({reason}).\n\
             - Verify you copied the complete key\n\
             - Check the key hasn't been revoked\n\
             - Ensure no extra spaces\n\
             - Generate a new key with: lua auth configure --email <email>"
        ),
    }
}

pub fn invalid_otp(email: &str) -> CliError {
    CliError::Expired {
        message: "Invalid OTP code".into(),
        hint: format!(
            "- Double-check the code from email\n\
             - OTP expires after 10 minutes\n\
             - Request a new OTP with: lua auth configure --email {email}"
        ),
    }
}

// --- reports ----------------------------------------------------------------------

const OVERRIDES: &str = "set in this shell and takes priority over the saved key";
const STILL_SET: &str = "still set in this shell and will keep being used";

pub fn code_sent(io: &mut Io) -> std::io::Result<()> {
    writeln!(io.stderr, "Check your email for a 6-digit code.")
}

pub fn code_next(io: &mut Io, email: &str) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "Then run: lua auth configure --email {email} --otp <code>"
    )
}

pub fn authenticated(ctx: &Ctx, io: &mut Io, email: &str) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "✅ Authenticated as {}. API key saved to {}",
        printable(email),
        ctx.store.credentials_path().display()
    )?;
    env_note(ctx, io, OVERRIDES)
}

pub fn generated(ctx: &Ctx, io: &mut Io) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "✅ API key generated and saved to {}",
        ctx.store.credentials_path().display()
    )?;
    env_note(ctx, io, OVERRIDES)
}

/// A key in `LUA_API_KEY` wins over the file, whatever happened to the file.
fn env_note(ctx: &Ctx, io: &mut Io, what: &str) -> std::io::Result<()> {
    if ctx.env.var(ctx.spec.api_key_env).is_some() {
        writeln!(io.stderr, "Note: {} is {what}.", ctx.spec.api_key_env)?;
    }
    Ok(())
}

/// The keytar entry where versions before 3.9.0 kept the key: service, account.
pub const KEYTAR: (&str, &str) = ("lua-cli", "api-key");

pub fn migrated(ctx: &Ctx, io: &mut Io) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "🔑 Migrated your API key from the OS keychain to {}",
        ctx.store.credentials_path().display()
    )
}

/// The keychain could not be read: said, and `configure` goes on.
pub fn keychain_skipped(io: &mut Io, problem: &KeychainProblem) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "Note: skipped the check for a key in the OS keychain: {problem}."
    )
}

pub fn keychain_kept(io: &mut Io, problem: &KeychainProblem) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "Note: could not remove the old keychain entry ({problem}); it is no longer used."
    )
}

/// The key alone on stdout, so `$(lua auth key --force)` is just the key.
pub fn key(io: &mut Io, found: &Found) -> std::io::Result<()> {
    writeln!(io.stderr, "🔑 Your API key:")?;
    // A key from `.env` may hold anything; one a terminal would act on is
    // no usable key, so escaping it changes no key that works.
    writeln!(io.stdout, "{}", printable(found.key.expose_secret()))?;
    io.stdout.flush()?;
    writeln!(io.stderr, "Source: {}", describe(&found.source, &SOURCES))
}

pub fn nothing_to_delete(ctx: &Ctx, io: &mut Io) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "No stored API key: {} does not exist.",
        ctx.store.credentials_path().display()
    )?;
    env_note(ctx, io, STILL_SET)
}

pub fn deleted(ctx: &Ctx, io: &mut Io) -> std::io::Result<()> {
    writeln!(io.stderr, "✅ API key deleted successfully.")?;
    writeln!(
        io.stderr,
        "To use the CLI again, run `lua auth configure` or set LUA_API_KEY."
    )?;
    writeln!(
        io.stderr,
        "Removed {}. The key is NOT invalidated on the server and still works if used \
         elsewhere; to fully revoke access, regenerate a new key from the admin dashboard.",
        ctx.store.credentials_path().display()
    )?;
    env_note(ctx, io, STILL_SET)
}
