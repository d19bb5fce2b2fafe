//! `jsonlift infer PATH...`: print the project file `init` would write.

use std::path::PathBuf;

use clap::Args;

use crate::infer;

#[derive(Debug, Args)]
pub struct InferArgs {
    /// Files or folders to read. With a single folder, paths in the output are relative to it
    /// (as `init` writes them); otherwise relative to the current folder.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Leave out files and folders matching GLOB (as `init --exclude`); repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

pub fn run(a: &InferArgs) -> anyhow::Result<bool> {
    let root = match a.paths.as_slice() {
        [one] if one.is_dir() => one.clone(),
        _ => std::env::current_dir()?,
    };
    match infer::infer_excluding(&root, &a.paths, &a.exclude) {
        Ok(i) => {
            print!("{}", i.text);
            Ok(true)
        }
        Err(problems) => {
            super::print_problems(&problems);
            Ok(false)
        }
    }
}
