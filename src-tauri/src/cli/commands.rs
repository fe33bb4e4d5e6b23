//! What each command does, on top of `countersign_core::Engine`.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use countersign_core::api::{self, ApprovalStatus};
use countersign_core::{
    CoreError, Engine, OutboxEntry, OutboxState, QueueQuery, Queued, SortOrder,
};
use serde::Serialize;

use super::args::{Cli, Command, NotesArgs, QueueArgs, ReasonArgs, SortArg, StatusArg};
use super::{explain, output};
use super::{CliError, EXIT_AUTH, EXIT_OTHER, EXIT_REJECTED, EXIT_SIGNED_OUT, EXIT_USAGE};

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let home = countersign_core::paths::home_dir();
    let engine = Engine::open(&home).map_err(|e| explain::home_error(&home, e))?;
    if let Some(r) = engine.store_recovery() {
        eprintln!("warning: {}", r.message());
    }
    if let Command::Logout {
        forget_device: true,
        ..
    } = cli.command
    {
        return forget_device(engine);
    }
    warn_if_insecure(&engine);
    dispatch(&engine, cli)
        .await
        .map_err(|e| explain::with_db_path(e, &home))
}

/// Every command says so while the account's server is reached over plain http://
/// beyond this machine (allowed at login with --allow-insecure-http).
fn warn_if_insecure(engine: &Engine) {
    if let Ok(Some(server)) = engine.insecure_server() {
        eprintln!(
            "warning: unencrypted connection to {server} (allowed with --allow-insecure-http): \
             the token and decisions cross the network in clear"
        );
    }
}

async fn dispatch(engine: &Engine, cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Login {
            server,
            org,
            token_stdin,
            allow_insecure_http,
        } => login(engine, &server, &org, token_stdin, allow_insecure_http).await,
        Command::Logout { all, .. } => logout(engine, all),
        Command::Sync { json } => sync(engine, json).await,
        Command::Queue(args) => queue(engine, args),
        Command::Show { id, json } => show(engine, &id, json).await,
        Command::Approve { id, notes, json } => {
            let notes = read_notes(&notes, false)?;
            decide(engine, &[id], None, notes.as_deref(), false, json).await
        }
        Command::Deny {
            id,
            reason,
            notes,
            json,
        } => {
            let (reason, notes) = read_reason_and_notes(&reason, &notes)?;
            decide(engine, &[id], Some(&reason), notes.as_deref(), false, json).await
        }
        Command::BulkApprove { ids, notes, json } => {
            let notes = read_notes(&notes, false)?;
            decide(engine, &ids, None, notes.as_deref(), true, json).await
        }
        Command::BulkDeny {
            ids,
            reason,
            notes,
            json,
        } => {
            let (reason, notes) = read_reason_and_notes(&reason, &notes)?;
            decide(engine, &ids, Some(&reason), notes.as_deref(), true, json).await
        }
        Command::Stats { from, to, json } => stats(engine, from.as_deref(), to.as_deref(), json),
        Command::Outbox { all, json } => outbox(engine, all, json),
        Command::Dismiss { id, json } => dismiss(engine, &id, json),
        Command::VerifyReceipt { file, keys, json } => {
            super::verify_receipt::run(engine, &file, keys.as_deref(), json).await
        }
    }
}

/// Longest notes or reason file read: far above the API's limits (which the engine
/// enforces with a clear message), low enough that `/dev/zero` cannot eat the memory.
const MAX_TEXT_FILE_BYTES: u64 = 1024 * 1024;

/// Reads a notes or reason file, `-` meaning standard input.
fn read_text_file(path: &Path, what: &str) -> Result<String, CliError> {
    let mut buf = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_TEXT_FILE_BYTES + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_TEXT_FILE_BYTES + 1).read_to_end(&mut buf))
    };
    let shown = if path == Path::new("-") {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    read.map_err(|e| {
        CliError::new(
            EXIT_USAGE,
            format!("cannot read the {what} from {shown}: {e}"),
        )
    })?;
    if buf.len() as u64 > MAX_TEXT_FILE_BYTES {
        return Err(CliError::new(
            EXIT_USAGE,
            format!("the {what} in {shown} is longer than {MAX_TEXT_FILE_BYTES} bytes"),
        ));
    }
    String::from_utf8(buf).map_err(|_| {
        CliError::new(
            EXIT_USAGE,
            format!("the {what} in {shown} is not UTF-8 text"),
        )
    })
}

/// The notes, from `--notes` or `--notes-file`; `stdin_taken` when the reason reads stdin.
fn read_notes(a: &NotesArgs, stdin_taken: bool) -> Result<Option<String>, CliError> {
    match (&a.notes, &a.notes_file) {
        (_, Some(path)) => {
            if path == Path::new("-") && stdin_taken {
                return Err(CliError::new(
                    EXIT_USAGE,
                    "only one of --reason-file and --notes-file can read standard input (-)",
                ));
            }
            read_text_file(path, "notes").map(Some)
        }
        (n, None) => Ok(n.clone()),
    }
}

fn read_reason_and_notes(
    r: &ReasonArgs,
    n: &NotesArgs,
) -> Result<(String, Option<String>), CliError> {
    let from_stdin = r.reason_file.as_deref() == Some(Path::new("-"));
    // Notes first: a clash on standard input is reported before anything is read.
    let notes = read_notes(n, from_stdin)?;
    let reason = match (&r.reason, &r.reason_file) {
        (_, Some(path)) => read_text_file(path, "reason")?,
        (Some(text), None) => text.clone(),
        // clap requires one of the two.
        (None, None) => {
            return Err(CliError::new(
                EXIT_USAGE,
                "a deny needs --reason or --reason-file",
            ))
        }
    };
    Ok((reason, notes))
}

pub(super) fn print_json<T: Serialize>(v: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(v)
        .map_err(|e| CliError::new(EXIT_OTHER, format!("cannot encode JSON: {e}")))?;
    println!("{s}");
    Ok(())
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn parse_date(s: &str) -> Result<DateTime<Utc>, CliError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            CliError::new(
                EXIT_USAGE,
                format!("{s:?} is not a date (use YYYY-MM-DD or RFC 3339)"),
            )
        })
}

fn read_token(from_stdin: bool) -> Result<String, CliError> {
    let stdin = std::io::stdin();
    let interactive = !from_stdin && stdin.is_terminal();
    if interactive {
        eprint!("Token: ");
        let _ = std::io::stderr().flush();
        // Hide the token while it is typed, where a terminal lets us.
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if interactive {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read?;
    let token = line.trim().to_string();
    if token.is_empty() {
        return Err(CliError::new(EXIT_USAGE, "no token given"));
    }
    Ok(token)
}

async fn login(
    engine: &Engine,
    server: &str,
    org: &str,
    token_stdin: bool,
    allow_insecure_http: bool,
) -> Result<(), CliError> {
    // Refused before the token is even asked for, and long before any connection.
    let normalized = countersign_core::settings::normalize_server_url(server)?;
    countersign_core::settings::check_transport(&normalized, allow_insecure_http)?;
    let token = read_token(token_stdin)?;
    let outcome = engine
        .login_with(server, org, &token, allow_insecure_http)
        .await?;
    if engine.insecure_server()?.is_some() {
        eprintln!(
            "warning: signed in over an unencrypted connection (--allow-insecure-http); \
             every command will say so while it lasts"
        );
    }
    println!(
        "Signed in to {org} as {} ({:?}).",
        outcome.who.subject, outcome.who.role
    );
    match &outcome.token_location {
        countersign_core::TokenLocation::Keychain => {
            println!("The token is kept in the OS keychain.")
        }
        loc @ countersign_core::TokenLocation::File { .. } => {
            eprintln!("warning: no OS keychain is reachable; the token is kept in {loc}");
        }
    }
    match &outcome.device_key_id {
        Some(id) => println!("Decisions from this device are signed with its key {id}."),
        None => eprintln!(
            "warning: this device's key could not be registered; decisions are sent unsigned"
        ),
    }
    match engine.sync_now().await {
        Ok(s) => println!("Synced: {} approvals received.", s.pulled),
        Err(e) => eprintln!("warning: first sync failed: {}", explain::core_error(&e)),
    }
    Ok(())
}

fn logout(engine: &Engine, all: bool) -> Result<(), CliError> {
    let out = engine.logout(all)?;
    println!("Signed out. Cached approvals and queued decisions stay on this device.");
    for a in &out.removed {
        println!("  removed the token for {a}");
    }
    if out.remaining.is_empty() {
        println!("No token is stored on this device any more.");
    } else {
        println!(
            "Tokens still stored on this device (remove them with `countersign logout --all`):"
        );
        for a in &out.remaining {
            println!("  {a}");
        }
    }
    Ok(())
}

/// Takes the engine by value: the store must be closed before its files are removed.
fn forget_device(engine: Engine) -> Result<(), CliError> {
    let out = engine.forget_device()?;
    for a in &out.tokens {
        println!("  removed the token for {a}");
    }
    for f in &out.files {
        println!("  deleted {}", f.display());
    }
    if out.discarded_queued > 0 {
        eprintln!(
            "warning: {} queued decision(s) had not been sent and were deleted with the store",
            out.discarded_queued
        );
    }
    println!("This device is forgotten: no token, no encryption key and no local store are left.");
    Ok(())
}

async fn sync(engine: &Engine, json: bool) -> Result<(), CliError> {
    match engine.sync_now().await {
        Ok(s) => {
            if json {
                print_json(&s)?;
            } else {
                println!(
                    "Synced: {} approvals received ({} changed); decisions delivered {}, rejected {}, expired unsent {}; {} still queued.",
                    s.pulled, s.changed, s.delivered, s.rejected, s.expired_unsent, s.remaining
                );
                if let Some(r) = &s.resync {
                    print!("{}", output::resync(r));
                }
                report_rejections(engine)?;
                let status = engine.status()?;
                if let Some(note) = output::clock_note(&status) {
                    println!("{note}");
                }
                if let Some(note) = output::audit_note(&status) {
                    println!("{note}");
                }
            }
            // A decision that was not applied is not a success, even if syncing worked.
            let failed = s.rejected + s.expired_unsent;
            if failed > 0 {
                let err = CliError::new(
                    EXIT_REJECTED,
                    format!(
                        "{failed} decision(s) were not applied ({} rejected by the server, {} expired before they could be sent): see `countersign outbox`",
                        s.rejected, s.expired_unsent
                    ),
                );
                return Err(if json { err.after_report() } else { err });
            }
            Ok(())
        }
        Err(e) => {
            let queued = engine.status().map(|s| s.outbox_pending).unwrap_or(0);
            let mut err = CliError::from(e);
            if queued > 0 {
                err.message.push_str(&format!(
                    "; {queued} decision(s) still queued on this device"
                ));
            }
            Err(err)
        }
    }
}

/// Prints rejected/expired decisions not yet reported.
fn report_rejections(engine: &Engine) -> Result<(), CliError> {
    let me = engine.settings()?.subject;
    for e in engine.outbox(&[OutboxState::Rejected, OutboxState::Expired])? {
        if e.finished_at
            .is_some_and(|t| (engine.now() - t).num_minutes() < 5)
        {
            println!(
                "  {} {}: {}",
                output::glyph_outbox(e.state),
                e.approval_id,
                e.explain_for(me.as_deref())
            );
        }
    }
    Ok(())
}

fn queue(engine: &Engine, a: QueueArgs) -> Result<(), CliError> {
    let q = QueueQuery {
        status: match a.status {
            StatusArg::Pending => Some(ApprovalStatus::Pending),
            StatusArg::Waiting => None,
            StatusArg::Approved => Some(ApprovalStatus::Approved),
            StatusArg::Denied => Some(ApprovalStatus::Denied),
            StatusArg::Expired => Some(ApprovalStatus::Expired),
            StatusArg::All => None,
        },
        agent: a.agent,
        action: a.action,
        reason: a.reason,
        from: a.from.as_deref().map(parse_date).transpose()?,
        to: a.to.as_deref().map(parse_date).transpose()?,
        search: a.search,
        sort: match a.sort {
            SortArg::Newest => SortOrder::NewestFirst,
            SortArg::Oldest => SortOrder::OldestFirst,
            SortArg::Expiring => SortOrder::ExpiringFirst,
        },
        limit: a.limit.max(1),
        offset: a.offset,
        waiting: matches!(a.status, StatusArg::Waiting),
        ..QueueQuery::default()
    };
    let page = engine.list(&q)?;
    if a.json {
        return print_json(&page);
    }
    let status = engine.status()?;
    print!("{}", output::queue_table(&page, engine.now()));
    println!(
        "{}",
        output::footer(&status, page.items.len(), page.total, engine.now())
    );
    if let Some(note) = output::clock_note(&status) {
        println!("{note}");
    }
    if let Some(note) = output::audit_note(&status) {
        println!("{note}");
    }
    Ok(())
}

/// How long `show` waits for a fresher copy than the cached one.
const FRESHER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

async fn show(engine: &Engine, id: &str, json: bool) -> Result<(), CliError> {
    if !api::is_valid_approval_id(id) {
        return Err(CliError::new(
            EXIT_USAGE,
            format!("{id:?} is not an approval id (appr-...)"),
        ));
    }
    // Local-first: the cached copy is the answer; a fresher one is worth at most
    // FRESHER_WAIT of the approver's time. Without a cached copy, only the server can answer.
    let cached = match engine.detail(id) {
        Ok(d) => Some(d),
        Err(CoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let mut note = None;
    let detail = match (cached, engine.client().is_ok()) {
        (Some(d), false) => d,
        (Some(d), true) => {
            match tokio::time::timeout(FRESHER_WAIT, engine.refresh_detail(id)).await {
                Ok(Ok(fresh)) => fresh,
                Ok(Err(CoreError::Rejected { status: 404, .. })) => {
                    note = Some(
                        "the server no longer has this approval; showing the cached copy"
                            .to_string(),
                    );
                    d
                }
                Ok(Err(e)) => {
                    note = Some(format!("offline ({e}); showing the cached copy"));
                    d
                }
                Err(_) => {
                    note = Some(format!(
                        "the server did not answer within {} s; showing the cached copy",
                        FRESHER_WAIT.as_secs()
                    ));
                    d
                }
            }
        }
        (None, true) => match engine.refresh_detail(id).await {
            Ok(d) => d,
            Err(CoreError::Rejected { status: 404, .. }) => {
                return Err(CliError::new(
                    EXIT_REJECTED,
                    format!("{id} does not exist on the server"),
                ))
            }
            Err(e) => return Err(e.into()),
        },
        (None, false) => return Err(CoreError::NotFound(id.to_string()).into()),
    };
    // The context comes from the cache, which now holds the approval.
    let context = match engine.approval_context(id) {
        Ok(c) => Some(c),
        Err(CoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if json {
        return print_json(&ShowReport {
            detail: &detail,
            recent_activity: context.as_ref().map(|c| &c.recent_activity),
            params_diff: context.as_ref().map(|c| &c.params_diff),
        });
    }
    if let Some(n) = note {
        eprintln!("note: {n}");
    }
    let width = output::terminal_width();
    print!("{}", output::detail(&detail, engine.now(), width));
    if let Some(c) = &context {
        print!("{}", output::context(c, engine.now(), width));
    }
    Ok(())
}

/// `show --json`: the detail's fields, plus the context to decide well.
#[derive(Serialize)]
struct ShowReport<'a> {
    #[serde(flatten)]
    detail: &'a countersign_core::ApprovalDetail,
    /// Absent only when the approval is not in the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    recent_activity: Option<&'a countersign_core::RecentActivity>,
    /// `null`: the first request of its kind (nothing approved to compare with).
    #[serde(skip_serializing_if = "Option::is_none")]
    params_diff: Option<&'a Option<countersign_core::ParamsComparison>>,
}

/// One decision's outcome for `--json`.
#[derive(Serialize)]
struct DecisionReport {
    id: String,
    kind: api::DecisionKind,
    state: OutboxState,
    message: String,
}

#[derive(Serialize)]
struct DecideReport {
    results: Vec<DecisionReport>,
    skipped: Vec<Skipped>,
}

#[derive(Serialize)]
struct Skipped {
    id: String,
    reason: String,
}

/// Why an approval was not decided, with the exit code it deserves.
struct Skip {
    id: String,
    reason: String,
    code: u8,
}

/// Exit code of a skip reason from the engine: the server's state (already decided,
/// expired) is a rejection; a decision of ours already queued is a usage error.
fn skip_code(reason: &str) -> u8 {
    if reason.contains("is already queued") {
        EXIT_USAGE
    } else if reason.contains("not in the local cache") {
        EXIT_OTHER
    } else {
        EXIT_REJECTED
    }
}

/// Brings approvals missing from the cache from the server, one by one, so a decision
/// on one never seen here is judged by the server's answer and not refused blindly.
/// Returns the ids that could not be fetched, with why.
async fn fetch_unknown(engine: &Engine, ids: &[String]) -> Result<Vec<Skip>, CliError> {
    let unknown: Vec<&String> = ids
        .iter()
        .filter(|id| api::is_valid_approval_id(id))
        .filter(|id| matches!(engine.detail(id), Err(CoreError::NotFound(_))))
        .collect();
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if let Err(e) = engine.client() {
        let mut err = CliError::from(e);
        err.message = format!(
            "{} not in this device's cache, and it cannot be fetched: {}",
            output::clean(unknown[0]),
            err.message
        );
        return Err(err);
    }
    let mut failed = Vec::new();
    for id in unknown {
        match engine.refresh_detail(id).await {
            Ok(_) => {}
            Err(CoreError::Rejected { status: 404, .. }) => failed.push(Skip {
                id: id.clone(),
                reason: "does not exist on the server".into(),
                code: EXIT_REJECTED,
            }),
            Err(
                e @ (CoreError::Unauthorized(_)
                | CoreError::SignedOut(_)
                | CoreError::NotConfigured),
            ) => return Err(e.into()),
            Err(e) => failed.push(Skip {
                id: id.clone(),
                reason: format!(
                    "not in this device's cache and not fetched ({}); nothing was queued for it",
                    explain::core_error(&e)
                ),
                code: EXIT_OTHER,
            }),
        }
    }
    Ok(failed)
}

async fn decide(
    engine: &Engine,
    ids: &[String],
    deny_reason: Option<&str>,
    notes: Option<&str>,
    bulk: bool,
    json: bool,
) -> Result<(), CliError> {
    // The same id twice is one decision, not a refusal of the second.
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<String> = ids
        .iter()
        .filter(|id| {
            let first = seen.insert(id.as_str());
            if !first && !json {
                eprintln!(
                    "note: {} is listed more than once; it is decided once",
                    output::clean(id)
                );
            }
            first
        })
        .cloned()
        .collect();
    let mut skips = fetch_unknown(engine, &ids).await?;
    engine.ask_server_about_expired(&ids).await;
    let wanted: Vec<String> = ids
        .iter()
        .filter(|id| !skips.iter().any(|s| &s.id == *id))
        .cloned()
        .collect();
    let queued: Queued = if wanted.is_empty() {
        Queued {
            entries: Vec::new(),
            skipped: Vec::new(),
        }
    } else {
        match (deny_reason, bulk) {
            (None, false) => engine.decide_approve(&wanted[0], notes)?,
            (Some(r), false) => engine.decide_deny(&wanted[0], r, notes)?,
            (None, true) => engine.bulk_approve(&wanted, notes)?,
            (Some(r), true) => engine.bulk_deny(&wanted, r, notes)?,
        }
    };
    for (id, reason) in &queued.skipped {
        skips.push(Skip {
            id: id.clone(),
            code: skip_code(reason),
            reason: reason.clone(),
        });
    }
    // Keep the order the ids were given in.
    skips.sort_by_key(|s| ids.iter().position(|i| *i == s.id));
    // Deliver right away when we can; offline simply leaves them queued.
    let pushed = if queued.entries.is_empty() {
        Ok(Default::default())
    } else if engine.client().is_ok() {
        engine.push_now().await
    } else {
        Err(CoreError::NotConfigured)
    };

    let mut results = Vec::new();
    for e in &queued.entries {
        let now_e: OutboxEntry = engine.outbox_entry(e.seq)?.unwrap_or_else(|| e.clone());
        let message = match now_e.state {
            OutboxState::Applied => format!("{} {}", past(now_e.kind), now_e.approval_id),
            OutboxState::Queued | OutboxState::Sending => format!(
                "{} {} — queued, will be sent when online",
                past(now_e.kind),
                now_e.approval_id
            ),
            OutboxState::Rejected | OutboxState::Expired => {
                let me = engine.settings()?.subject;
                format!(
                    "{}: {}",
                    now_e.approval_id,
                    now_e.explain_for(me.as_deref())
                )
            }
        };
        results.push(DecisionReport {
            id: now_e.approval_id.clone(),
            kind: now_e.kind,
            state: now_e.state,
            message,
        });
    }
    let rejected = results
        .iter()
        .any(|r| matches!(r.state, OutboxState::Rejected | OutboxState::Expired));
    let skipped: Vec<Skipped> = skips
        .iter()
        .map(|s| Skipped {
            id: s.id.clone(),
            reason: s.reason.clone(),
        })
        .collect();
    if json {
        print_json(&DecideReport { results, skipped })?;
    } else {
        for r in &results {
            println!(
                "{} {}",
                output::glyph_outbox(r.state),
                output::clean(&r.message)
            );
        }
        for s in &skipped {
            println!(
                "- {} not decided: {}",
                output::clean(&s.id),
                output::clean(&s.reason)
            );
        }
    }
    let outcome = |e: CliError| if json { e.after_report() } else { e };

    if let Err(CoreError::Unauthorized(m)) = &pushed {
        return Err(outcome(CliError::new(
            EXIT_AUTH,
            format!("the server refused the token ({m}); the decision stays queued: sign in again with `countersign login`"),
        )));
    }
    if let Err(CoreError::SignedOut(m)) = &pushed {
        return Err(outcome(CliError::new(
            EXIT_SIGNED_OUT,
            format!("signed out: {m}; the decision stays queued and is sent after you sign in again with `countersign login`"),
        )));
    }
    if rejected {
        return Err(outcome(CliError::new(
            EXIT_REJECTED,
            "some decisions were not applied",
        )));
    }
    // The most telling reason wins: a server-side refusal, then sign-in, then trouble
    // reaching the server, then a usage slip.
    for code in [EXIT_REJECTED, EXIT_AUTH, EXIT_OTHER, EXIT_USAGE] {
        if skips.iter().any(|s| s.code == code) {
            let what = if queued.entries.is_empty() {
                "nothing was decided"
            } else {
                "some approvals were skipped"
            };
            return Err(outcome(CliError::new(code, what)));
        }
    }
    Ok(())
}

fn past(kind: api::DecisionKind) -> &'static str {
    match kind {
        api::DecisionKind::Approve => "approved",
        api::DecisionKind::Deny => "denied",
    }
}

fn stats(
    engine: &Engine,
    from: Option<&str>,
    to: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let from = from.map(parse_date).transpose()?;
    let to = to.map(parse_date).transpose()?;
    let s = engine.local_stats(from, to)?;
    if json {
        return print_json(&s);
    }
    print!("{}", output::stats(&s));
    let st = engine.status()?;
    if let Some(t) = st.last_synced {
        println!(
            "(from this device's cache, last synced {})",
            output::ago(t, engine.now())
        );
    } else {
        println!("(from this device's cache, never synced: run `countersign sync`)");
    }
    Ok(())
}

fn outbox(engine: &Engine, all: bool, json: bool) -> Result<(), CliError> {
    let states: &[OutboxState] = if all {
        &[]
    } else {
        &[
            OutboxState::Queued,
            OutboxState::Sending,
            OutboxState::Rejected,
            OutboxState::Expired,
        ]
    };
    let entries = if all {
        engine.outbox_including_dismissed(states)?
    } else {
        engine.outbox(states)?
    };
    if json {
        return print_json(&entries);
    }
    if entries.is_empty() {
        println!("The outbox is empty: every decision made on this device has been delivered.");
        return Ok(());
    }
    print!("{}", output::outbox_table(&entries, engine.now()));
    Ok(())
}

/// Dismisses every not-yet-dismissed rejected/expired decision on approval `id`.
/// Nothing to dismiss is a usage error (exit 2), like deciding something undecidable.
fn dismiss(engine: &Engine, id: &str, json: bool) -> Result<(), CliError> {
    if !api::is_valid_approval_id(id) {
        return Err(CliError::new(
            EXIT_USAGE,
            format!("{id:?} is not an approval id (appr-...)"),
        ));
    }
    let failed: Vec<OutboxEntry> = engine
        .outbox(&[OutboxState::Rejected, OutboxState::Expired])?
        .into_iter()
        .filter(|e| e.approval_id == id)
        .collect();
    if failed.is_empty() {
        let other = engine
            .outbox_including_dismissed(&[])?
            .into_iter()
            .rev()
            .find(|e| e.approval_id == id);
        let why = match other {
            Some(e) if e.dismissed_at.is_some() => "its rejected decision is already dismissed",
            Some(e) if e.state.is_active() => "its decision is still queued",
            Some(_) => "its decision was applied",
            None => "no decision of this device on it",
        };
        return Err(CliError::new(
            EXIT_USAGE,
            format!("nothing to dismiss for {}: {why}", output::clean(id)),
        ));
    }
    let mut done = Vec::with_capacity(failed.len());
    for e in &failed {
        done.push(engine.dismiss_outbox(e.seq)?);
    }
    if json {
        return print_json(&done);
    }
    for e in &done {
        println!(
            "Dismissed {} {}: {} (kept; `countersign outbox --all` lists it)",
            e.state.as_str(),
            e.kind.as_str(),
            output::clean(&e.approval_id)
        );
    }
    Ok(())
}
