//! The `skguard` binary: argument parsing, commands and exit statuses. Everything else is the
//! library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
