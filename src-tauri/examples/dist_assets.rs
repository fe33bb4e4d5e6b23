//! Writes the shell completions (bash, zsh, fish) and the man page of `countersign`
//! from its clap definitions, for the Linux packages (tauri.conf.json
//! `bundle.linux.*.files`). Run before bundling: `beforeBundleCommand` does it.
//!
//!     cargo run --example dist-assets -- gen/dist
//!
//! The CLI syntax is compiled in from the binary's own `cli/args.rs`, so the packaged
//! completions and man page can never describe another version of the commands.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

// Only the syntax is used here: the binary reads the fields, this program does not.
#[allow(dead_code)]
#[path = "../src/cli/args.rs"]
mod args;

const BIN: &str = "countersign";

fn main() -> io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("gen/dist"));
    fs::create_dir_all(&dir)?;
    write_completions(&dir)?;
    write_man_pages(&dir)?;
    println!("wrote completions and man page to {}", dir.display());
    Ok(())
}

fn write_completions(dir: &Path) -> io::Result<()> {
    for (shell, file) in [
        (Shell::Bash, format!("{BIN}.bash")),
        (Shell::Zsh, format!("_{BIN}")),
        (Shell::Fish, format!("{BIN}.fish")),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut args::Cli::command(), BIN, &mut out);
        fs::write(dir.join(file), out)?;
    }
    Ok(())
}

/// `countersign.1` and one page per subcommand (`countersign-login.1`, ...), the
/// layout the main page's SUBCOMMANDS section points at (`man countersign-login`).
fn write_man_pages(dir: &Path) -> io::Result<()> {
    let dir = dir.join("man1");
    fs::create_dir_all(&dir)?;
    let cmd = args::Cli::command();
    let date = build_date();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .date(&date)
        .render(&mut out)?;
    fs::write(dir.join(format!("{BIN}.1")), out)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        // clap names are `&'static str` (without its `string` feature); this program
        // runs once and exits, so leaking a dozen short names is the simple way.
        let page: &'static str = format!("{BIN}-{}", sub.get_name()).leak();
        let mut out = Vec::new();
        clap_mangen::Man::new(
            sub.clone()
                .name(page)
                .bin_name(format!("{BIN} {}", sub.get_name()))
                .version(env!("CARGO_PKG_VERSION")),
        )
        .date(&date)
        .render(&mut out)?;
        fs::write(dir.join(format!("{page}.1")), out)?;
    }
    Ok(())
}

/// The date on the page: `SOURCE_DATE_EPOCH` when set (reproducible builds), else empty.
fn build_date() -> String {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}
