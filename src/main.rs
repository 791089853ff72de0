//! The `fsrgan` command line (SPEC §6): a thin edge over the library. Every
//! error reaches the user as one line on stderr with exit code 2.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
