//! `rxpool admin user add|list|remove|passwd`: the admin accounts of the api's `/admin` routes
//! (`store::mysql::admins`, the code the api's account routes use too). A password is read
//! from standard input, one line (never from the command line or the environment, where other
//! users and shell history could see it), and must be at least 12 characters. Every change is
//! audited with actor `cli`. There is no default account.

use std::io::{BufRead, IsTerminal as _, Write as _};

use anyhow::Context;
use sqlx::MySqlPool;

use crate::domain::{Clock, SystemClock};
use crate::store::mysql::admins::{self, AdminName, Role};

/// The actor the command line's changes are audited as.
const ACTOR: &str = "cli";

/// `rxpool admin user ...`
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Adds account NAME (role admin, or viewer: GET routes only); password on stdin.
    Add {
        name: String,
        /// Read-only account: GET routes only.
        #[arg(long)]
        viewer: bool,
    },
    /// Lists the accounts.
    List,
    /// Removes account NAME; its sessions end at once.
    Remove { name: String },
    /// Sets account NAME's password (on stdin); its sessions end at once.
    Passwd { name: String },
}

/// Runs `cmd`, reading a password from standard input where it needs one.
pub async fn run(pool: &MySqlPool, cmd: UserCommand) -> anyhow::Result<()> {
    let prompt = std::io::stdin().is_terminal();
    let mut input = std::io::BufReader::new(std::io::stdin());
    let output = run_with_input(pool, cmd, &mut input, prompt).await?;
    print!("{output}");
    Ok(())
}

/// Runs `cmd` with the password read from `input` (one line); returns what to print.
pub async fn run_with_input(
    pool: &MySqlPool,
    cmd: UserCommand,
    input: &mut (impl BufRead + Send),
    prompt: bool,
) -> anyhow::Result<String> {
    let now = SystemClock.now();
    Ok(match cmd {
        UserCommand::Add { name, viewer } => {
            let name = AdminName::parse(&name)?;
            let role = if viewer { Role::Viewer } else { Role::Admin };
            let hash = read_new_password(input, prompt).await?;
            let account = admins::create(pool, now, ACTOR, &name, role, &hash).await?;
            format!(
                "admin account {} added (role {})\n",
                account.name, account.role
            )
        }
        UserCommand::List => {
            let mut out = String::new();
            for a in admins::list(pool).await? {
                out.push_str(&format!(
                    "{:<24} {:<7} created {} password set {}\n",
                    a.name,
                    a.role,
                    crate::domain::UnixMillis(a.created_ms).utc_text(),
                    crate::domain::UnixMillis(a.password_changed_ms).utc_text(),
                ));
            }
            out
        }
        UserCommand::Remove { name } => {
            let removed = admins::remove(pool, now, ACTOR, &name, false).await?;
            format!("admin account {} removed\n", removed.name)
        }
        UserCommand::Passwd { name } => {
            if admins::find(pool, &name).await?.is_none() {
                anyhow::bail!("no admin account {name:?}");
            }
            let hash = read_new_password(input, prompt).await?;
            admins::set_password(pool, now, ACTOR, "admin.user.passwd", &name, &hash).await?;
            format!("password of {name} changed; its sessions have ended\n")
        }
    })
}

/// One line of `input` (without its line ending), checked and hashed.
async fn read_new_password(
    input: &mut (impl BufRead + Send),
    prompt: bool,
) -> anyhow::Result<admins::PasswordHashText> {
    if prompt {
        eprint!(
            "password (one line, at least {} characters; it is echoed, so prefer a pipe): ",
            admins::MIN_PASSWORD_CHARS
        );
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line)
        .to_owned();
    if password.is_empty() {
        anyhow::bail!("no password on standard input (give it as one line)");
    }
    let hash = tokio::task::spawn_blocking(move || admins::hash_new_password(&password))
        .await
        .context("hashing the password")??;
    Ok(hash)
}
