//! `countersign-server`: the reference approvals server.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use countersign_api::Role;
use countersign_server::db::tokens::{hash_token, public_id, role_str, TokenOptions};
use countersign_server::{demo, parse_duration, spawn, RevokeTarget, ServerConfig, Verification};

#[derive(Parser)]
#[command(
    name = "countersign-server",
    version,
    about = "Reference approvals server for Countersign"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// SQLite database file (created if missing).
    #[arg(long, default_value = "./countersign-server.db")]
    db: PathBuf,
    /// Default expiry of new approvals (e.g. 24h, 90m, 30s).
    #[arg(long, default_value = "24h", value_parser = parse_std_duration)]
    expiry: std::time::Duration,
    /// Seed the demo org, tokens and approvals (idempotent).
    #[arg(long)]
    demo: bool,
    /// With --demo: create a new pending approval this often (e.g. 30s).
    #[arg(long, value_parser = parse_std_duration)]
    demo_trickle: Option<std::time::Duration>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key). Without it the
    /// server speaks plain HTTP, which is meant for loopback and demos.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// How often overdue approvals are expired.
    #[arg(long, default_value = "5s", value_parser = parse_std_duration)]
    sweep_interval: std::time::Duration,
    /// Minimum distinct approvers for actions matching a glob, e.g.
    /// 'kubernetes:*=2' (repeatable; N from 1 to 5). A request asking for more gets
    /// more: the larger of the rule and the request applies.
    #[arg(long, value_name = "PATTERN=N", value_parser = parse_quorum)]
    quorum: Vec<countersign_server::quorum::QuorumRule>,
    /// Close a connection that has not sent a whole request head within this long
    /// (e.g. 30s): half-open and trickling sockets do not pile up.
    #[arg(long, default_value = "30s", value_parser = parse_std_duration)]
    header_timeout: std::time::Duration,
    /// Connections served at once; more wait until one closes.
    #[arg(long, default_value_t = countersign_server::config::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Requests per minute per bearer token (as a burst, refilled evenly); over it a
    /// request gets 429 with Retry-After. 0 turns it off.
    #[arg(long, default_value_t = countersign_server::config::DEFAULT_RATE_LIMIT_PER_MINUTE)]
    rate_limit: u32,
    /// Approvals created per minute per agent token, within --rate-limit. 0 turns it off.
    #[arg(long, default_value_t = countersign_server::config::DEFAULT_CREATE_RATE_LIMIT_PER_MINUTE)]
    create_rate_limit: u32,
    /// Refuse approver decisions that carry no valid v2 receipt (signed by the
    /// approver's own device key) with 422 receipt_required. Alone: every org;
    /// with an org id: that org (repeatable).
    #[arg(long, value_name = "ORG", num_args = 0..=1, default_missing_value = "*",
          value_parser = parse_receipts_org)]
    require_receipts: Vec<String>,
    /// The server's Ed25519 key file that signs the audit chain's head (made on first
    /// start, mode 0600). Default: beside the database, `<db>.audit-key`. Keep it out of
    /// database backups.
    #[arg(long, value_name = "FILE")]
    audit_key: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the audit trail's hash chain and every decision receipt in it (with the
    /// device keys, revoked ones included: a revocation does not undo past receipts;
    /// each signed by the decider's own device, one signer per quorum vote), and hold
    /// the approvals table against the chain (each approval's created entry, its
    /// status and decision); exits 2 if anything is broken.
    VerifyAudit {
        #[arg(long)]
        db: PathBuf,
    },
    /// Create a bearer token and print it (only its SHA-256 is stored); its public id
    /// (tok_…, for list-tokens and revoke-token) goes to stderr.
    AddToken {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        org: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Who the token is for: an ASCII letter or digit, then letters, digits and
        /// _ . @ + - (at most 128). Unique ignoring case within the org: `Alice` is
        /// refused when `alice` exists (the same spelling again is fine).
        #[arg(long)]
        subject: String,
        /// The token stops working after this long (e.g. 90d, 12h); requests then get
        /// 401 token_expired. Default: no expiry.
        #[arg(long, value_parser = parse_std_duration, value_name = "DURATION")]
        expires: Option<std::time::Duration>,
        /// Agent tokens: an agent id (`agent.id`) this token may raise, read and record
        /// results for (repeatable; `*` stands for any run of characters, `*` alone for
        /// every agent of the org). Without it an agent token is bound to its subject as
        /// the single agent id, which is also what tokens made before bindings get.
        #[arg(long = "agent", value_name = "AGENT_ID")]
        agents: Vec<String>,
    },
    /// List tokens: public id, org, subject, role, created, expires, revoked, bound
    /// agent ids and the device keys each registered. Never prints a secret.
    ListTokens {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke a token by its public id (--id tok_…), or every token and device key of
    /// a subject (--subject S --org O). Recorded with the time, never deleted; the
    /// token's next request gets 401 token_revoked.
    RevokeToken {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, conflicts_with_all = ["subject", "org"], required_unless_present = "subject")]
        id: Option<String>,
        #[arg(long, requires = "org")]
        subject: Option<String>,
        #[arg(long, requires = "subject")]
        org: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Approver,
    Agent,
}

fn parse_std_duration(s: &str) -> Result<std::time::Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn parse_receipts_org(s: &str) -> Result<String, String> {
    if s == "*" || countersign_api::is_valid_org_id(s) {
        Ok(s.to_string())
    } else {
        Err(countersign_api::ORG_ID_RULE.to_string())
    }
}

fn parse_quorum(s: &str) -> Result<countersign_server::quorum::QuorumRule, String> {
    countersign_server::quorum::QuorumRule::parse(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            say(&mut std::io::stderr(), &format!("error: {e:#}\n"));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::VerifyAudit { db }) => match countersign_server::verify_audit(&db)? {
            Verification::Ok { entries } => {
                say(
                    &mut std::io::stdout(),
                    &format!("audit chain OK: {entries} entries\n"),
                );
                Ok(ExitCode::SUCCESS)
            }
            Verification::Broken { seq, problem } => {
                say(
                    &mut std::io::stdout(),
                    &format!("audit chain BROKEN at seq {seq}: {problem}\n"),
                );
                Ok(ExitCode::from(2))
            }
        },
        Some(Command::AddToken {
            db,
            org,
            role,
            subject,
            expires,
            agents,
        }) => {
            let role = match role {
                RoleArg::Approver => Role::Approver,
                RoleArg::Agent => Role::Agent,
            };
            let expires_at = expires
                .map(|d| chrono::Duration::from_std(d).context("--expires is too long"))
                .transpose()?
                .map(|d| countersign_server::db::now() + d);
            let options = TokenOptions { expires_at, agents };
            let token = countersign_server::add_token_with(&db, &org, role, &subject, &options)?;
            say(&mut std::io::stdout(), &format!("{token}\n"));
            eprintln!("token id: {}", public_id(&hash_token(&token)));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::ListTokens { db, org }) => {
            let tokens = countersign_server::list_tokens(&db, org.as_deref())?;
            println!("ID\tORG\tSUBJECT\tROLE\tCREATED\tEXPIRES\tREVOKED\tAGENTS\tDEVICES");
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or("-".to_string(), |t| {
                    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                })
            };
            for (t, devices) in tokens {
                let agents = match t.owner.role {
                    Role::Agent => t.agents().join(","),
                    Role::Approver => "-".to_string(),
                };
                let devices = if devices.is_empty() {
                    "-".to_string()
                } else {
                    devices.join(",")
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.id(),
                    t.owner.org,
                    t.owner.subject,
                    role_str(t.owner.role),
                    time(Some(t.created_at)),
                    time(t.expires_at),
                    time(t.revoked_at),
                    agents,
                    devices
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::RevokeToken {
            db,
            id,
            subject,
            org,
        }) => {
            let target = match (&id, &subject, &org) {
                (Some(id), _, _) => RevokeTarget::Id(id),
                (None, Some(subject), Some(org)) => RevokeTarget::Subject { org, subject },
                _ => anyhow::bail!("give --id tok_…, or --subject S with --org O"),
            };
            let revoked = countersign_server::revoke_tokens(&db, target)?;
            if revoked.tokens.is_empty() {
                println!("nothing to revoke: already revoked");
            }
            for t in &revoked.tokens {
                println!("revoked {t}");
            }
            if revoked.devices > 0 {
                println!("revoked {} device key(s)", revoked.devices);
            }
            Ok(ExitCode::SUCCESS)
        }
        None => serve(cli),
    }
}

fn serve(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = ServerConfig {
        addr: cli.addr,
        db_path: cli.db,
        default_expiry: chrono::Duration::from_std(cli.expiry).context("expiry too long")?,
        demo: cli.demo,
        demo_trickle: cli.demo_trickle,
        sweep_interval: cli.sweep_interval,
        quorum: cli.quorum,
        header_read_timeout: cli.header_timeout,
        max_connections: cli.max_connections,
        rate_limit_per_minute: cli.rate_limit,
        create_rate_limit_per_minute: cli.create_rate_limit,
        require_receipts: cli.require_receipts,
        audit_key_path: cli.audit_key,
        tls: cli
            .tls_cert
            .zip(cli.tls_key)
            .map(|(cert, key)| countersign_server::tls::TlsFiles { cert, key }),
        ..ServerConfig::new(cli.addr, "")
    };
    if config.plain_http_beyond_loopback() {
        say(
            &mut std::io::stderr(),
            &format!("{}\n", plain_http_warning(config.addr)),
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let demo_mode = config.demo;
        let server = spawn(config).await?;
        let mut banner = String::new();
        if demo_mode {
            banner += &format!("countersign-server demo on {}\n", server.base_url());
            banner += &format!("  org:      {}\n", demo::DEMO_ORG);
            for (token, subject, role) in demo::tokens() {
                let role = match role {
                    Role::Approver => "approver",
                    Role::Agent => "agent",
                };
                banner += &format!("  {role:<8}  {token}  ({subject})\n");
            }
        } else {
            banner += &format!("countersign-server on {}\n", server.base_url());
        }
        say(&mut std::io::stdout(), &banner);
        wait_for_signal().await?;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Writes what the server tells whoever started it. `println!` panics when that reader is
/// gone (`countersign-server --demo | head -1`, a test that stopped reading after the
/// address); the lines are a courtesy, serving is the job, so a failed write is logged
/// (to stderr, which tracing writes without panicking) and otherwise ignored.
fn say(out: &mut impl Write, text: &str) {
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        tracing::debug!(error = %e, "output not written (reader gone)");
    }
}

/// Loud on purpose: the log line alone scrolls by unnoticed.
fn plain_http_warning(addr: SocketAddr) -> String {
    let line = "!".repeat(78);
    format!(
        "{line}\n\
         WARNING: serving plain HTTP on {addr}, which other machines can reach.\n\
         Bearer tokens and decisions will cross the network unencrypted.\n\
         Use --tls-cert and --tls-key (or a TLS proxy in front), or bind 127.0.0.1.\n\
         {line}"
    )
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
