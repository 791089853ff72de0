//! The command-line edge the diagnostic examples share (`unit_table`,
//! `level1_probe`): `RUN_DIR`, then `--set section.field=value`
//! (repeatable, the overrides the run was trained with) and the example's
//! own `--name value` options; bad input gets one line on stderr and exit
//! code 2, as in the CLI.

use std::process::ExitCode;

use anyhow::{Result, bail};

/// The parsed arguments.
pub struct RunDirArgs {
    pub dir: String,
    pub sets: Vec<String>,
    /// `(name, value)` of the example's own options, in the given order
    /// (`unit_table` has none).
    #[allow(dead_code)]
    pub options: Vec<(String, String)>,
}

/// Parses `RUN_DIR [--set section.field=value ...] [--name value ...]`
/// from the process arguments, `names` being the accepted `--name`s.
pub fn parse(usage: &str, names: &[&str]) -> Result<RunDirArgs> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        bail!("usage: {usage}");
    };
    let (mut sets, mut options) = (Vec::new(), Vec::new());
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        match (a.as_str(), rest.next()) {
            ("--set", Some(v)) => sets.push(v.clone()),
            (name, Some(v)) if names.contains(&name) => options.push((name.to_string(), v.clone())),
            _ => bail!("argument {a:?}: expected {usage}"),
        }
    }
    Ok(RunDirArgs {
        dir: dir.clone(),
        sets,
        options,
    })
}

/// The exit of an example: success, or the error on one line and code 2.
pub fn exit(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
