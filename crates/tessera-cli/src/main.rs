//! The generic `tessera` binary.

fn main() -> std::process::ExitCode {
    tessera_cli::main_for(&tessera_client::TESSERA)
}
