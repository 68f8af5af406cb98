//! The generic `tessera` binary.

fn main() -> std::process::ExitCode {
    tessera_cli::host::main::<tessera_cli::Cli>(&tessera_cli::TESSERA)
}
