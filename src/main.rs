use std::process::ExitCode;

fn main() -> ExitCode {
    sscard::cli::main()
}
