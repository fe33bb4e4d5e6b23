//! Human-readable output: the queue table of the product document, detail, stats.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use countersign_core::api::{
    ApprovalStatus, ExecutionOutcome, RiskSnapshot, Stats, StatsBucket, StatusTotals, TraceResult,
};
use countersign_core::{
    ApprovalContext, ApprovalDetail, ConnState, DiffChange, OutboxEntry, OutboxState, QueuePage,
    ResyncReport, SyncStatus,
};

pub fn glyph(status: ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Pending => "⏳",
        ApprovalStatus::Approved => "✓",
        ApprovalStatus::Denied => "✗",
        ApprovalStatus::Expired => "⌛",
    }
}

pub fn glyph_outbox(state: OutboxState) -> &'static str {
    match state {
        OutboxState::Queued | OutboxState::Sending => "↑",
        OutboxState::Applied => "✓",
        OutboxState::Rejected => "✗",
        OutboxState::Expired => "⌛",
    }
}

/// "2h ago", "3d ago", "just now".
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    if s < 0 {
        return format!("in {}", span(-s));
    }
    if s < 60 {
        return "just now".into();
    }
    format!("{} ago", span(s))
}

/// "22h", "5m", "3d": the same coarse spans the notifications use.
pub fn span(s: i64) -> String {
    countersign_core::notify_plan::human_duration(chrono::Duration::seconds(s))
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

/// Strips control characters so a hostile summary cannot drive the terminal, and
/// shows invisible direction and zero-width characters as `<U+202E>`: a right-to-left
/// override would otherwise make "gpj.exe" read as "exe.jpg" in an approver's terminal.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.push(' ');
        } else if is_invisible_format(c) {
            let _ = write!(out, "<U+{:04X}>", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Bidirectional embeddings, overrides, isolates and marks, and zero-width characters.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}')
}

/// Columns to fit: `COLUMNS` when set (scripts, tests), else the terminal's width,
/// else 80. Never below 40, so a hanging indent always leaves room for words.
pub fn terminal_width() -> usize {
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    let w = from_env
        .or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
        .unwrap_or(80);
    w.max(40)
}

/// Word-wraps `text` (already cleaned) for a line whose first `indent` columns are
/// taken (by a label); continuation lines are indented as much. A word longer than a
/// line is cut.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let room = width.saturating_sub(indent).max(10);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    for word in text.split_whitespace() {
        let mut rest: Vec<char> = word.chars().collect();
        while !rest.is_empty() {
            let need = if cur_len == 0 {
                rest.len()
            } else {
                cur_len + 1 + rest.len()
            };
            if need <= room {
                if cur_len > 0 {
                    cur.push(' ');
                    cur_len += 1;
                }
                cur_len += rest.len();
                cur.extend(rest.drain(..));
            } else if cur_len > 0 {
                lines.push(std::mem::take(&mut cur));
                cur_len = 0;
            } else {
                cur.extend(rest.drain(..room));
                lines.push(std::mem::take(&mut cur));
            }
        }
    }
    if cur_len > 0 {
        lines.push(cur);
    }
    lines.join(&format!("\n{}", " ".repeat(indent)))
}

/// `label` then `text`, cleaned and wrapped under itself.
fn labelled(o: &mut String, label: &str, text: &str, width: usize) {
    let _ = writeln!(o, "{label}{}", wrap(&clean(text), width, width_of(label)));
}

fn width_of(s: &str) -> usize {
    s.chars().count()
}

pub fn queue_table(page: &QueuePage, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if page.items.is_empty() {
        out.push_str("No approvals match.\n");
        return out;
    }
    let rows: Vec<[String; 5]> = page
        .items
        .iter()
        .map(|i| {
            [
                clean(&i.id),
                clean(&i.agent),
                clean(&i.action),
                clean(&i.reason_code),
                ago(i.created_at, now),
            ]
        })
        .collect();
    let mut w = [0usize; 5];
    for r in &rows {
        for (k, c) in r.iter().enumerate() {
            w[k] = w[k].max(width(c));
        }
    }
    for (item, r) in page.items.iter().zip(&rows) {
        let _ = writeln!(
            out,
            "{} {}  {}  {}  {}  {}",
            glyph(item.status),
            pad(&r[0], w[0]),
            pad(&r[1], w[1]),
            pad(&r[2], w[2]),
            pad(&r[3], w[3]),
            r[4]
        );
        let mut second = clean(&item.summary);
        if item.required_approvals > 1 {
            let _ = write!(
                second,
                "  [{}/{} approvals]",
                item.approvals, item.required_approvals
            );
        }
        if item.gone_at.is_some() {
            second.push_str("  [no longer on the server]");
        } else if let Some(p) = &item.pending_decision {
            let _ = write!(
                second,
                "  [{} — queued, will be sent when online]",
                p.kind.as_str()
            );
        } else if item.locally_expired {
            second.push_str("  [expired]");
        } else if item.waiting_for_others {
            second.push_str("  [you approved — waiting for others]");
        } else if item.status == ApprovalStatus::Approved {
            second.push_str(match item.outcome {
                Some(ExecutionOutcome::Succeeded) => "  [executed ✓]",
                Some(ExecutionOutcome::Failed) => "  [failed ✗]",
                None => "  [not yet executed]",
            });
        } else if item.status == ApprovalStatus::Pending {
            let left = (item.expires_at - now).num_seconds();
            let _ = write!(second, "  (expires in {})", span(left));
        }
        // The same chips as the app's queue (one definition, in the core).
        for c in &item.risks {
            let _ = write!(second, "  [{}]", c.label);
        }
        let _ = writeln!(out, "   {second}");
    }
    out
}

pub fn footer(status: &SyncStatus, shown: usize, total: u64, now: DateTime<Utc>) -> String {
    let synced = match status.last_synced {
        Some(t) => format!("last synced {}", ago(t, now)),
        None => "never synced".into(),
    };
    let queued = if status.outbox_pending > 0 {
        format!(", {} decision(s) queued", status.outbox_pending)
    } else {
        String::new()
    };
    let conn = match &status.conn {
        ConnState::NotConfigured => " (not signed in)",
        _ => "",
    };
    format!("{shown} of {total} shown; {synced}{queued}{conn}")
}

/// What a full resync found, for `sync`.
pub fn resync(r: &ResyncReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "The server's history changed ({}); everything was pulled again.",
        clean(&r.reason)
    );
    if r.removed > 0 {
        let _ = writeln!(
            o,
            "  {} approval(s) the server no longer has were removed from this device.",
            r.removed
        );
    }
    for id in &r.gone {
        let _ = writeln!(
            o,
            "  {} is no longer on the server; kept here because you decided on it.",
            clean(id)
        );
    }
    for id in &r.rejected {
        let _ = writeln!(
            o,
            "  ✗ your queued decision on {} was not sent: the server no longer has it.",
            clean(id)
        );
    }
    for id in &r.undone {
        let _ = writeln!(
            o,
            "  ⚠ {} is pending again on the server: your earlier decision was lost with the restore; decide again.",
            clean(id)
        );
    }
    o
}

/// A line about this device's clock when it is off by more than a minute.
pub fn clock_note(s: &SyncStatus) -> Option<String> {
    let ms = s.clock_offset_ms.filter(|_| s.clock_off)?;
    let dir = if ms > 0 { "behind" } else { "ahead of" };
    Some(format!(
        "note: this device's clock is {} {dir} the server's; times shown are the server's.",
        span(ms.abs() / 1000)
    ))
}

/// The standing warning that the server's audit trail lost what this device saw.
pub fn audit_note(s: &SyncStatus) -> Option<String> {
    s.audit_notice
        .as_deref()
        .map(|n| format!("WARNING: {}", clean(n)))
}

/// "APPROVALS 1 of 2 — bob ✓ 10:02": who approved a quorum approval so far.
fn quorum(o: &mut String, a: &countersign_core::api::Approval, width: usize) {
    if a.required_approvals <= 1 {
        return;
    }
    let _ = writeln!(
        o,
        "\nAPPROVALS\n  {} of {} approvals",
        a.approvals.len(),
        a.required_approvals
    );
    for v in &a.approvals {
        let _ = writeln!(
            o,
            "  {} ✓ {}",
            clean(&v.by),
            v.at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        if let Some(n) = &v.notes {
            labelled(o, "    Notes: ", n, width);
        }
    }
}

pub fn detail(d: &ApprovalDetail, now: DateTime<Utc>, width: usize) -> String {
    let a = &d.approval;
    let mut o = String::new();
    let _ = writeln!(o, "APPROVAL DETAIL {}", clean(&a.id));
    let _ = writeln!(o);
    let agent_extra = match (&a.agent.name, &a.agent.version) {
        (Some(n), Some(v)) => format!(" ({} {})", clean(n), clean(v)),
        (Some(n), None) => format!(" ({})", clean(n)),
        _ => String::new(),
    };
    let _ = writeln!(o, "Agent:   {}{agent_extra}", clean(&a.agent.id));
    let _ = writeln!(o, "Action:  {}", clean(&a.action));
    let status_note = if d.gone_at.is_some() {
        " (no longer on the server: it was restored from an older backup or rebuilt)"
    } else if d.locally_expired {
        " (expired by the server's time, as this device last measured it)"
    } else if d.waiting_for_others {
        " — waiting for others (you approved)"
    } else {
        ""
    };
    let _ = writeln!(o, "Status:  {} {}{status_note}", glyph(d.status), d.status);
    let _ = writeln!(
        o,
        "Created: {} ({})",
        a.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        ago(a.created_at, now)
    );
    let left = (a.expires_at - now).num_seconds();
    let remaining = if left > 0 {
        format!("{} remaining", span(left))
    } else {
        format!("{} ago", span(-left))
    };
    let _ = writeln!(
        o,
        "Expires: {} ({remaining})",
        a.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    labelled(&mut o, "Summary: ", &a.summary, width);
    if !d.risks.is_empty() {
        let chips: Vec<&str> = d.risks.iter().map(|c| c.label.as_str()).collect();
        let _ = writeln!(o, "Risks:   {}", chips.join(", "));
    }
    let _ = writeln!(o, "\nREASON");
    labelled(
        &mut o,
        &format!("  {}: ", clean(&a.reason_code)),
        &a.reason_text,
        width,
    );
    let params = serde_json::to_string_pretty(&a.params).unwrap_or_default();
    let _ = writeln!(o, "\nREQUEST PARAMETERS");
    for line in params.lines() {
        let _ = writeln!(o, "  {}", clean(line));
    }
    if !a.policy_trace.is_empty() {
        let _ = writeln!(o, "\nPOLICY TRACE");
        for s in &a.policy_trace {
            let (g, word) = match s.result {
                TraceResult::Pass => ("✓", "pass"),
                TraceResult::Escalate => ("⚠", "escalate"),
                TraceResult::Fail => ("✗", "fail"),
            };
            let detail = s
                .detail
                .as_deref()
                .map(|d| format!(" ({})", clean(d)))
                .unwrap_or_default();
            let _ = writeln!(o, "  {g} {}: {word}{detail}", clean(&s.step));
        }
    }
    risk(&mut o, &a.risk, width);
    quorum(&mut o, a, width);
    if let Some(dec) = &a.decision {
        let _ = writeln!(
            o,
            "\nDECISION\n  {} by {}{} at {}",
            dec.kind.resulting_status(),
            clean(&dec.by),
            if d.decided_by_you_elsewhere {
                " (you, on another device)"
            } else {
                ""
            },
            dec.at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        if let Some(r) = &dec.reason {
            labelled(&mut o, "  Reason: ", r, width);
        }
        if let Some(n) = &dec.notes {
            labelled(&mut o, "  Notes: ", n, width);
        }
    }
    execution(&mut o, d);
    if let Some(local) = &d.local_decision {
        if local.state != OutboxState::Applied {
            let _ = writeln!(
                o,
                "\nTHIS DEVICE\n  {} {}",
                glyph_outbox(local.state),
                clean(
                    &local.explain_for(
                        a.decision
                            .as_ref()
                            .filter(|_| d.decided_by_you_elsewhere)
                            .map(|dec| dec.by.as_str())
                    )
                )
            );
        }
    }
    if let Some(trail) = &d.audit {
        let _ = writeln!(o, "\nAUDIT TRAIL");
        for e in &trail.entries {
            let extra = e
                .reason
                .as_deref()
                .or(e.notes.as_deref())
                .map(|t| format!(" — {}", clean(t)))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  #{} {} {:?} by {}{extra}",
                e.seq,
                e.at.format("%Y-%m-%d %H:%M:%S"),
                e.event,
                clean(&e.actor)
            );
        }
    }
    o
}

/// Lines of the agent's output shown before "… N more lines".
const OUTPUT_LINES: usize = 40;

/// What the agent reported after executing an approved action, or that it has not.
fn execution(o: &mut String, d: &ApprovalDetail) {
    let a = &d.approval;
    let Some(x) = &a.execution else {
        if a.status == ApprovalStatus::Approved {
            let _ = writeln!(
                o,
                "\nOUTCOME\n  … approved, not yet executed (no result reported)"
            );
        }
        return;
    };
    let (g, word) = match x.outcome {
        ExecutionOutcome::Succeeded => ("✓", "executed"),
        ExecutionOutcome::Failed => ("✗", "failed"),
    };
    let _ = writeln!(
        o,
        "\nOUTCOME\n  {g} {word} (reported {})",
        x.recorded_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if x.output.is_null() {
        return;
    }
    let _ = writeln!(o, "  Output:");
    let text = serde_json::to_string_pretty(&x.output).unwrap_or_default();
    let total = text.lines().count();
    for line in text.lines().take(OUTPUT_LINES) {
        let _ = writeln!(o, "    {}", clean(line));
    }
    if total > OUTPUT_LINES {
        let _ = writeln!(
            o,
            "    … {} more lines (--json shows all)",
            total - OUTPUT_LINES
        );
    }
}

/// "3 requests — 1 approved, 1 denied, 1 expired, 0 pending".
fn totals_line(t: &StatusTotals) -> String {
    format!(
        "{} request{} — {} approved, {} denied, {} expired, {} pending",
        t.total(),
        if t.total() == 1 { "" } else { "s" },
        t.approved,
        t.denied,
        t.expired,
        t.pending
    )
}

/// The detail's context sections: this agent's recent activity for the action, and
/// what changed in the parameters since the last approved request of its kind.
pub fn context(c: &ApprovalContext, now: DateTime<Utc>, width: usize) -> String {
    let mut o = String::new();
    let r = &c.recent_activity;
    let _ = writeln!(
        o,
        "\nRECENT ACTIVITY ({} · {}; this request not counted)",
        clean(&r.agent),
        clean(&r.action)
    );
    let _ = writeln!(o, "  Last 7 days:  {}", totals_line(&r.last_7_days));
    let _ = writeln!(o, "  Last 30 days: {}", totals_line(&r.last_30_days));
    if r.recent_decisions.is_empty() {
        let _ = writeln!(o, "  No earlier decisions.");
    } else {
        let _ = writeln!(o, "  Recent decisions:");
        for rd in &r.recent_decisions {
            let who = match &rd.decision {
                Some(d) => format!(
                    "{} by {} {} ({})",
                    rd.status,
                    clean(&d.by),
                    d.at.format("%Y-%m-%d %H:%M UTC"),
                    ago(d.at, now)
                ),
                None => format!("{} (this device's decision, not yet delivered)", rd.status),
            };
            let _ = writeln!(o, "    {} {}  {who}", glyph(rd.status), clean(&rd.id));
            if let Some(d) = &rd.decision {
                if let Some(reason) = &d.reason {
                    labelled(&mut o, "      Reason: ", reason, width);
                }
                if let Some(notes) = &d.notes {
                    labelled(&mut o, "      Notes: ", notes, width);
                }
            }
        }
    }
    let _ = writeln!(o, "\nCHANGES SINCE THE LAST APPROVAL");
    let Some(cmp) = &c.params_diff else {
        let _ = writeln!(
            o,
            "  First request of its kind: nothing approved earlier from this agent for this action."
        );
        return o;
    };
    let by = cmp
        .against
        .decision
        .as_ref()
        .map(|d| {
            format!(
                ", approved by {} {}",
                clean(&d.by),
                d.at.format("%Y-%m-%d %H:%M UTC")
            )
        })
        .unwrap_or_default();
    let _ = writeln!(o, "  Compared with {}{by}", clean(&cmp.against.id));
    let d = &cmp.diff;
    if d.is_same() {
        let _ = writeln!(o, "  Same parameters.");
    }
    for e in &d.entries {
        let path = if e.path.is_empty() {
            "(parameters)".to_string()
        } else {
            clean(&e.path)
        };
        let show = |v: &Option<String>| clean(v.as_deref().unwrap_or(""));
        let line = match e.change {
            DiffChange::Changed => format!("  ~ {path}: {} → {}", show(&e.old), show(&e.new)),
            DiffChange::Added => format!("  + {path}: {}", show(&e.new)),
            DiffChange::Removed => format!("  - {path}: {}", show(&e.old)),
        };
        let _ = writeln!(o, "{line}");
    }
    if d.more_entries > 0 {
        let _ = writeln!(o, "  +{} more changes (--json counts them)", d.more_entries);
    }
    if d.unchanged_count > 0 {
        let _ = writeln!(
            o,
            "  {} unchanged value{} (--json lists them)",
            d.unchanged_count,
            if d.unchanged_count == 1 { "" } else { "s" }
        );
    }
    o
}

/// Every risk field the agent sent, as the app shows them: the budget first, then
/// the others by name (`recent_denials` as "recent denials").
fn risk(o: &mut String, r: &RiskSnapshot, width: usize) {
    let mut lines = Vec::new();
    match (r.budget_used, r.budget_limit) {
        (used, Some(limit)) => {
            let used = used.unwrap_or(0);
            let unit = r.budget_unit.as_deref().unwrap_or("actions");
            let pct = used.saturating_mul(100).checked_div(limit).unwrap_or(0);
            lines.push((
                "Budget".to_string(),
                format!("{used}/{limit} {} ({pct}%)", clean(unit)),
            ));
        }
        (Some(used), None) => {
            let unit = r.budget_unit.as_deref().unwrap_or("actions");
            lines.push(("Budget used".to_string(), format!("{used} {}", clean(unit))));
        }
        (None, None) => {}
    }
    for (k, v) in &r.extra {
        let value = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        lines.push((clean(&k.replace('_', " ")), value));
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nRISK SNAPSHOT");
    for (k, v) in lines {
        let label = format!("  {}: ", capitalise(&k));
        labelled(o, &label, &v, width);
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn avg(v: Option<f64>) -> String {
    match v {
        Some(s) => span(s.round() as i64),
        None => "—".into(),
    }
}

fn buckets(o: &mut String, title: &str, rows: &[StatsBucket]) {
    let _ = writeln!(o, "\n{title}");
    if rows.is_empty() {
        let _ = writeln!(o, "  (none)");
        return;
    }
    let w = rows.iter().map(|b| width(&b.key)).max().unwrap_or(0);
    for b in rows {
        let t = &b.totals;
        let _ = writeln!(
            o,
            "  {}  total {:>5}  pending {:>4}  approved {:>4}  denied {:>4}  expired {:>4}  avg {}",
            pad(&clean(&b.key), w),
            t.total(),
            t.pending,
            t.approved,
            t.denied,
            t.expired,
            avg(b.average_response_secs)
        );
    }
}

pub fn stats(s: &Stats) -> String {
    let mut o = String::new();
    let range = match (s.from, s.to) {
        (None, None) => "all time".to_string(),
        (f, t) => format!(
            "{} → {}",
            f.map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "…".into()),
            t.map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "now".into())
        ),
    };
    let t = &s.totals;
    let _ = writeln!(o, "APPROVAL STATISTICS ({range})");
    let _ = writeln!(
        o,
        "  total {}  ⏳ pending {}  ✓ approved {}  ✗ denied {}  ⌛ expired {}",
        t.total(),
        t.pending,
        t.approved,
        t.denied,
        t.expired
    );
    let _ = writeln!(
        o,
        "  average response time: {}",
        avg(s.average_response_secs)
    );
    if let Some(x) = &s.executions {
        let share = x
            .failed_share()
            .map(|f| format!("{:.1}%", f * 100.0))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            o,
            "  approved actions that failed: {share} ({} failed, {} executed, {} not reported)",
            x.failed, x.succeeded, x.not_reported
        );
    }
    buckets(&mut o, "BY AGENT", &s.by_agent);
    buckets(&mut o, "BY REASON CODE", &s.by_reason);
    o
}

pub fn outbox_table(entries: &[OutboxEntry], now: DateTime<Utc>) -> String {
    let mut o = String::new();
    for e in entries {
        let what = match e.state {
            OutboxState::Queued | OutboxState::Sending => {
                let mut s = format!("{} queued {}", e.kind.as_str(), ago(e.decided_at, now));
                if e.attempts > 0 {
                    let _ = write!(s, ", {} attempt(s)", e.attempts);
                    if let Some(err) = &e.last_error {
                        let _ = write!(s, ", last error: {}", clean(err));
                    }
                }
                s
            }
            _ => clean(&e.explain()),
        };
        let _ = writeln!(
            o,
            "{} {:<9} {}  {}",
            glyph_outbox(e.state),
            e.state.as_str(),
            clean(&e.approval_id),
            what
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_warning_is_printed_when_set_and_cleaned_of_control_characters() {
        let mut s = SyncStatus {
            conn: ConnState::Online,
            last_synced: None,
            outbox_pending: 0,
            clock_offset_ms: None,
            clock_off: false,
            store_notice: None,
            audit_notice: None,
        };
        assert_eq!(audit_note(&s), None);
        s.audit_notice =
            Some("The server's audit trail no longer contains entry 7\u{1b}[2J".into());
        let note = audit_note(&s).expect("printed");
        assert!(note.starts_with("WARNING: The server's audit trail no longer contains entry 7"));
        assert!(!note.contains('\u{1b}'), "{note:?}");
    }

    #[test]
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(ago(now - chrono::Duration::hours(2), now), "2h ago");
        assert_eq!(ago(now - chrono::Duration::days(1), now), "1d ago");
        assert_eq!(ago(now, now), "just now");
        assert_eq!(span(22 * 3600 + 5), "22h");
    }

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(clean("a\x1b[2Jb\n"), "a [2Jb ");
    }

    #[test]
    fn direction_overrides_are_made_visible() {
        assert_eq!(clean("invoice\u{202E}fdp.exe"), "invoice<U+202E>fdp.exe");
        assert_eq!(clean("a\u{2066}b\u{200B}c"), "a<U+2066>b<U+200B>c");
        assert_eq!(clean("Ünïcödé café"), "Ünïcödé café");
    }

    #[test]
    fn wrapping_fits_the_width_and_keeps_every_word() {
        let text = "word ".repeat(200) + &"x".repeat(150);
        let out = wrap(text.trim(), 80, 9);
        for (i, line) in out.lines().enumerate() {
            let used = if i == 0 { 9 } else { 0 };
            assert!(used + line.chars().count() <= 80, "{line:?}");
            if i > 0 {
                assert!(line.starts_with("         "), "{line:?}");
            }
        }
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words.iter().filter(|w| **w == "word").count(), 200);
        assert_eq!(
            words
                .iter()
                .filter(|w| w.starts_with('x'))
                .map(|w| w.len())
                .sum::<usize>(),
            150
        );
        assert_eq!(wrap("", 80, 9), "");
        assert_eq!(wrap("short", 80, 9), "short");
    }
}
