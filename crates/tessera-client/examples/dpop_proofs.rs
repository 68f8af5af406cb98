//! For `bench/server-auth/run.sh`: a DPoP-bound access token from a running
//! server (client credentials, with the library's own proofs and nonce
//! handling), and `COUNT` single-use proofs for `GET RESOURCE_URL` with it,
//! spread over `FILES` files (`proofs-1.txt`…, one per wrk thread), so that a
//! load generator can send a fresh proof with every request.
//!
//! ```text
//! dpop_proofs TOKEN_ENDPOINT CLIENT_ID CLIENT_SECRET RESOURCE_URL COUNT FILES OUT_DIR [ALG]
//! ```
//!
//! Prints the access token. Every proof's `iat` is 50 s ahead, so the set is
//! accepted from 10 s after it is made until 110 s after (the server's window
//! is ±60 s): make it right before the run.

use std::io::Write as _;
use std::process::ExitCode;
use tessera_client::DpopKey;
use tessera_client::oauth::{self, Client, ClientCredentialsRequest, UreqClient};
use tessera_proto::ClientSecret;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        token_endpoint,
        client_id,
        secret,
        url,
        count,
        files,
        out,
        rest @ ..,
    ] = args.as_slice()
    else {
        eprintln!(
            "usage: dpop_proofs TOKEN_ENDPOINT CLIENT_ID CLIENT_SECRET RESOURCE_URL COUNT FILES OUT_DIR [ALG]"
        );
        return ExitCode::from(2);
    };
    let (Ok(count), Ok(files)) = (count.parse::<usize>(), files.parse::<usize>()) else {
        eprintln!("COUNT and FILES are numbers");
        return ExitCode::from(2);
    };
    let key = DpopKey::generate(rest.first().map_or("EdDSA", String::as_str));
    let client =
        Client::confidential(client_id, ClientSecret::new(secret.as_str())).with_dpop(key.clone());
    let request = ClientCredentialsRequest {
        scope: None,
        customer_key: None,
    };
    let token =
        match oauth::client_credentials(&UreqClient::new(), token_endpoint, &client, request) {
            Ok(token) if token.token_type.eq_ignore_ascii_case("DPoP") => token,
            Ok(token) => {
                eprintln!(
                    "the server answered token_type {}, not DPoP",
                    token.token_type
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("token request failed: {e}");
                return ExitCode::FAILURE;
            }
        };
    let token = token.access_token;
    let iat = time::OffsetDateTime::now_utc().unix_timestamp() + 50;
    let mut writers: Vec<_> = (1..=files.max(1))
        .map(|n| {
            let path = std::path::Path::new(out).join(format!("proofs-{n}.txt"));
            std::io::BufWriter::new(std::fs::File::create(path).expect("proof file"))
        })
        .collect();
    let shards = writers.len();
    for i in 0..count {
        let proof = key.proof("GET", url, Some(token.expose_secret()), iat);
        writeln!(writers[i % shards], "{proof}").expect("write proof");
    }
    for mut w in writers {
        w.flush().expect("flush proofs");
    }
    println!("{}", token.expose_secret());
    ExitCode::SUCCESS
}
