//! sockdemo's entry point: parse the command line, set up logging, run, and
//! turn the outcome into an exit code. Everything else lives in the library.

use std::process::ExitCode;

use sockdemo::exit::Code;

fn main() -> ExitCode {
    let cli = sockdemo::cli::parse();
    sockdemo::logging::init(cli.logging());
    let shows_errors = cli.shows_errors();
    match sockdemo::run(cli) {
        Ok(()) => Code::Success.into(),
        Err(err) => {
            // `{:#}` prints the whole chain of contexts on one line.
            if shows_errors {
                eprintln!("sockdemo: error: {err:#}");
            }
            Code::of(&err).into()
        }
    }
}
