//! Property tests for the parsers that read files a user (or anyone who can
//! write to the working directory) controls: `.env`, `credentials.toml`,
//! `config.toml`. Through the public API only, so they hold whichever parser
//! sits behind it: nothing panics, refusals are the documented errors, and
//! what was written is read back.

use proptest::prelude::*;
use std::collections::BTreeMap;
use tessera_client::app::TESSERA;
use tessera_client::{ApiKey, Error, Resolver, Store};

fn resolve_dotenv(contents: &[u8]) -> Option<String> {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(".env"), contents).unwrap();
    let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA);
    let env = BTreeMap::<&str, &str>::new();
    let resolution = Resolver {
        spec: &TESSERA,
        env: &env,
        store: &store,
        cwd: tmp.path(),
        api_key_flag: None,
        profile_flag: None,
    }
    .first()
    .expect("a .env never fails resolution");
    resolution.winner().map(|found| {
        assert_eq!(found.source.kind(), "dotenv");
        found.key.expose_secret().to_owned()
    })
}

/// Lines that assign other keys or are comments.
fn noise() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            "[A-Z_]{1,12}=[a-z0-9 ]{0,12}"
                .prop_filter("not our key", |l| !l.starts_with("TESSERA_API_KEY=")),
            "# [ -~]{0,30}",
            Just(String::new()),
        ],
        0..5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_dotenv_content_resolves_without_panicking(contents in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Some(value) = resolve_dotenv(&contents) {
            prop_assert!(!value.is_empty(), "an empty value is no key");
        }
    }

    #[test]
    fn a_plain_assignment_is_read_back(
        value in "[A-Za-z0-9_.~+/-]{1,60}",
        before in noise(),
        after in noise(),
        export in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let export = if export { "export " } else { "" };
        let mut lines = before;
        lines.push(format!("{export}TESSERA_API_KEY={value}"));
        lines.extend(after);
        let contents = lines.join(eol) + eol;
        prop_assert_eq!(resolve_dotenv(contents.as_bytes()), Some(value));
    }

    #[test]
    fn quoted_values_are_read_back(value in "[ -!#-&(-\\[\\]-~]{1,40}", single in any::<bool>()) {
        // Printable ASCII without quotes or backslashes: the same in single
        // and double quotes for every dotenv dialect.
        let contents = if single {
            format!("TESSERA_API_KEY='{value}'\n")
        } else {
            format!("TESSERA_API_KEY=\"{value}\"\n")
        };
        prop_assert_eq!(resolve_dotenv(contents.as_bytes()), Some(value));
    }

    #[test]
    fn any_credentials_file_is_read_or_refused_and_never_lost(
        contents in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            "(\\[profiles\\.[a-z\"]{1,6}(\\.oauth)?\\]\n|[a-z_]{1,10} = (\"[ -~]{0,10}\"|[0-9]{1,3}|true|\\[\\])\n){0,8}"
                .prop_map(String::into_bytes),
        ],
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA);
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(store.credentials_path(), &contents).unwrap();
        match store.read_credentials() {
            Ok(_) => {}
            Err(Error::Parse { message, .. }) => prop_assert!(!message.is_empty()),
            Err(other) => prop_assert!(false, "undocumented refusal: {other:?}"),
        }
        // A write never replaces a file it could not read.
        let written = store.update(|_, creds| {
            creds.profiles.entry("new".into()).or_default().api_key = Some(ApiKey::new("k"));
            Ok(())
        });
        if written.is_err() {
            prop_assert_eq!(std::fs::read(store.credentials_path()).unwrap(), contents);
        }
    }

    #[test]
    fn any_config_file_is_read_or_refused(contents in prop::collection::vec(any::<u8>(), 0..512)) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA);
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(store.config_path(), &contents).unwrap();
        match store.read_config() {
            Ok(_) | Err(Error::Parse { .. }) | Err(Error::UntrustedConfig { .. }) => {}
            Err(other) => prop_assert!(false, "undocumented refusal: {other:?}"),
        }
    }

    #[test]
    fn any_secret_and_profile_name_survive_a_write(
        profiles in prop::collection::btree_map("[^\u{0}]{1,12}", "[^\u{0}]{1,80}", 1..4),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA);
        store
            .update(|config, creds| {
                for (name, key) in &profiles {
                    config.set_current_profile("default", name);
                    creds.profiles.entry(name.clone()).or_default().api_key =
                        Some(ApiKey::new(key.clone()));
                }
                Ok(())
            })
            .unwrap();
        let file = store.read_credentials().unwrap().file;
        let config = store.read_config().unwrap();
        for (name, key) in &profiles {
            prop_assert_eq!(file.profiles[name].api_key.as_ref().unwrap().expose_secret(), key);
            prop_assert!(config.profiles.contains_key(name));
        }
    }
}
