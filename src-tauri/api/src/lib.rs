//! Wire format of the Countersign approvals API.
//!
//! These are plain serde types: the server (`countersign-server`) and the client
//! (`countersign-core`) share nothing else. Times are RFC 3339 in UTC on the wire.
//! Every type that arrives from the network tolerates unknown fields, so that a newer
//! server never breaks an older client; request bodies that the server validates are
//! strict (`deny_unknown_fields`) so that a typo in a field name is a 400, not a
//! silently ignored note.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod audit_head;
pub use audit_head::{AuditHead, AuditHeadSigned, ServerKey};
pub mod receipt;
pub use receipt::{
    DecisionAuditData, Device, DeviceList, Receipt, ReceiptSigned, RegisterDeviceRequest,
    RegisterDeviceResponse,
};

/// Base path of every org-scoped endpoint: `/api/v1/orgs/{org}`.
pub const API_PREFIX: &str = "/api/v1";
/// Header carrying the client's idempotency key on decision endpoints.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Longest notes field accepted, in characters.
pub const MAX_NOTES_CHARS: usize = 4000;
/// Longest deny reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// Most ids in one bulk request.
pub const MAX_BULK_IDS: usize = 500;
/// Largest page of `GET /approvals` and `GET /approvals/changes`, in items.
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// Largest page of `GET /approvals` and `GET /approvals/changes`, in bytes of JSON:
/// the server stops adding items before a page passes it, but always sends at least
/// one (an approval may be up to [`MAX_BODY_BYTES`] on its own), so a page is never
/// longer than this plus one approval. Clients must accept that much.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Largest request body the server accepts (a new approval with its params).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 4] = [
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Denied,
        ApprovalStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        self != ApprovalStatus::Pending
    }
}

impl std::fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The agent that raised the request, as the policy engine identified it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRef {
    /// Stable identifier, e.g. `deployment-bot`.
    pub id: String,
    /// Display name, e.g. `Deployment Bot`.
    #[serde(default)]
    pub name: Option<String>,
    /// Version string, e.g. `v2.1.0`.
    #[serde(default)]
    pub version: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceResult {
    Pass,
    Escalate,
    Fail,
}

/// One step of the policy engine's evaluation (`manifest_validation: pass`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    pub step: String,
    pub result: TraceResult,
    #[serde(default)]
    pub detail: Option<String>,
}

/// What the engine knew about risk when it escalated. Budget is the part the
/// document shows (`Budget: 12/50 actions (24%)`); anything else the engine sent is
/// kept in `extra` and shown as-is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskSnapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_limit: Option<u64>,
    /// Unit of the budget, e.g. `actions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_unit: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    Approve,
    Deny,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Approve => "approve",
            DecisionKind::Deny => "deny",
        }
    }

    /// The status an approval reaches when this decision is applied.
    pub fn resulting_status(self) -> ApprovalStatus {
        match self {
            DecisionKind::Approve => ApprovalStatus::Approved,
            DecisionKind::Deny => ApprovalStatus::Denied,
        }
    }
}

/// Who decided, when, and why.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub kind: DecisionKind,
    /// Identity of the approver (the token's subject), e.g. `alice@demo`.
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Required for a deny, absent for an approve.
    #[serde(default)]
    pub reason: Option<String>,
    /// The approver's device's signature over this decision, when it sent one: an
    /// executor can check offline that what it runs is what was approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionOutcome {
    Succeeded,
    Failed,
}

/// What the agent reported after executing an approved action.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionResult {
    pub outcome: ExecutionOutcome,
    #[serde(default)]
    pub output: Value,
    pub recorded_at: DateTime<Utc>,
}

/// An approval request, everything the detail view shows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// `appr-` followed by 1 to 64 of `[a-z0-9_-]`.
    pub id: String,
    pub org_id: String,
    pub agent: AgentRef,
    /// e.g. `kubernetes:deploy`.
    pub action: String,
    /// One line for the queue, e.g. `Deploy app:v2.0.0 to production namespace`.
    pub summary: String,
    pub status: ApprovalStatus,
    /// e.g. `requires_approval`, `amount_threshold`, `new_counterparty`.
    pub reason_code: String,
    pub reason_text: String,
    /// Request parameters, arbitrary JSON as the agent sent them.
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub policy_trace: Vec<TraceStep>,
    #[serde(default)]
    pub risk: RiskSnapshot,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Identity under which the request was raised (the agent token's subject).
    pub requested_by: String,
    #[serde(default)]
    pub decision: Option<Decision>,
    #[serde(default)]
    pub execution: Option<ExecutionResult>,
    /// How many distinct approvers must approve before the approval is `approved`
    /// (1 to [`MAX_REQUIRED_APPROVALS`]). 1 from servers older than quorum.
    #[serde(default = "one_approval")]
    pub required_approvals: u8,
    /// The approvals recorded so far, oldest first, the one that completed the quorum
    /// included. A deny leaves them as they were. Empty from servers older than quorum.
    #[serde(default)]
    pub approvals: Vec<ApprovalVote>,
    /// Monotonic per server; bumped on every change to this approval.
    pub change_seq: i64,
    /// Where to open this approval: set by the server on the approvals it returns, absent
    /// in what older servers sent (and in older local caches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<ApprovalLinks>,
}

/// Most approvals a request may require (`required_approvals`).
pub const MAX_REQUIRED_APPROVALS: u8 = 5;

fn one_approval() -> u8 {
    1
}

/// One approver's approve of a quorum approval: who, when, with what notes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalVote {
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub notes: Option<String>,
    /// The receipt this approve came with, if signed: an executor checks one distinct
    /// signer per vote. Absent for unsigned votes and from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

impl Approval {
    /// Whether `who` already approved it (a partial approval of a quorum, or the final one).
    pub fn approved_by(&self, who: &str) -> bool {
        self.approvals.iter().any(|v| same_subject(&v.by, who))
    }

    /// Approvals still needed before it is approved (0 once enough are recorded).
    pub fn approvals_missing(&self) -> u8 {
        let have = u8::try_from(self.approvals.len()).unwrap_or(u8::MAX);
        self.required_approvals.saturating_sub(have)
    }
}

/// URL scheme of links that open the desktop app: `countersign://approvals/<id>?org=<org>`.
pub const APP_LINK_SCHEME: &str = "countersign";

/// One-click links to an approval, for a chat or mail integration to put in its message.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ApprovalLinks {
    /// Opens the approval's detail in the desktop app, starting it if needed:
    /// `countersign://approvals/<id>?org=<org>`.
    pub app: String,
    /// The approval in this API: `<server>/api/v1/orgs/<org>/approvals/<id>`.
    pub api: String,
}

impl ApprovalLinks {
    /// The links of approval `id` of `org` on the server at `base` (scheme, host and
    /// port, e.g. `https://countersign.example.com`; a trailing slash is ignored).
    pub fn new(base: &str, org: &str, id: &str) -> ApprovalLinks {
        let (org, id) = (percent_encode(org), percent_encode(id));
        ApprovalLinks {
            app: format!("{APP_LINK_SCHEME}://approvals/{id}?org={org}"),
            api: format!(
                "{}{API_PREFIX}/orgs/{org}/approvals/{id}",
                base.trim_end_matches('/')
            ),
        }
    }
}

/// Escapes everything but RFC 3986 unreserved characters, so an org or id of any form
/// stays one path segment or query value. (Ids are already plain; orgs usually are.)
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks the form of an approval id: `appr-` then 1..=64 of `[a-z0-9_-]`.
pub fn is_valid_approval_id(id: &str) -> bool {
    match id.strip_prefix("appr-") {
        Some(rest) => {
            !rest.is_empty()
                && rest.len() <= 64
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        }
        None => false,
    }
}

/// Longest org id accepted, in bytes.
pub const MAX_ORG_ID_LEN: usize = 128;

/// Checks the form of an org id: 1..=128 of `[A-Za-z0-9._-]`, and not `.` or `..`,
/// so it is one URL path segment and one file name as it stands. The one rule for
/// org ids: the server's `add-token`, the client's login and settings use it.
pub fn is_valid_org_id(org: &str) -> bool {
    !org.is_empty()
        && org.len() <= MAX_ORG_ID_LEN
        && org != "."
        && org != ".."
        && org
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Why an org id is refused, for messages on both sides.
pub const ORG_ID_RULE: &str =
    "an org id is 1 to 128 of letters, digits, '-', '_' or '.' (not '.' or '..')";

/// Whether `c` shows nothing on its own: Unicode whitespace, control characters (Cc),
/// format characters (Cf: zero-width space and joiners, the BOM, bidi controls, tags,
/// ...), variation selectors, and the characters that render blank although Unicode
/// does not class them as space (Hangul fillers, the braille blank, the combining
/// grapheme joiner, Khmer inherent vowels, Mongolian selectors).
pub fn is_invisible_char(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c,
            // Cf, format characters (Unicode 15.1).
            '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
            | '\u{0890}'..='\u{0891}' | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}' | '\u{E0020}'..='\u{E007F}'
            // Blank-looking letters and marks, variation selectors.
            | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180D}' | '\u{180F}' | '\u{2800}' | '\u{3164}' | '\u{FFA0}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Whether `text` has at least one character that shows (see [`is_invisible_char`]).
pub fn has_visible_char(text: &str) -> bool {
    text.chars().any(|c| !is_invisible_char(c))
}

/// Why a free-text field (a deny reason) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("it must contain a visible character")]
    NotVisible,
    #[error("it must not contain control characters (U+{0:04X}); tab and line breaks are fine")]
    ControlChar(u32),
    #[error("it must be at most {0} characters")]
    TooLong(usize),
    #[error("it must not contain invisible or format characters (U+{0:04X})")]
    Invisible(u32),
}

/// The one rule for a deny reason, used by the server, the core's decide path and the
/// CLI: at least one visible character; no control character other than tab, line
/// feed and carriage return anywhere (a NUL or an escape inside an otherwise visible
/// reason is refused, since it would be stored and shown to auditors as-is; format
/// characters such as bidi marks stay allowed inside, as right-to-left text needs
/// them); at most [`MAX_REASON_CHARS`] characters.
pub fn check_reason(reason: &str) -> Result<(), TextError> {
    if let Some(c) = reason
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(TextError::ControlChar(c as u32));
    }
    if !has_visible_char(reason) {
        return Err(TextError::NotVisible);
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(TextError::TooLong(MAX_REASON_CHARS));
    }
    Ok(())
}

/// Longest identifier (`agent.id`, `action`, `reason_code`) accepted, in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 128;

/// Why an identifier is refused, for messages on both sides.
pub const IDENTIFIER_RULE: &str = "an identifier is 1 to 128 characters of [a-z0-9_.:/-], \
     starting with a lowercase letter or digit (e.g. kubernetes:deploy)";

/// The one rule for the identifiers an agent chooses (`agent.id`, `action`,
/// `reason_code`): `[a-z0-9][a-z0-9_.:/-]*`, at most [`MAX_IDENTIFIER_LEN`] bytes.
///
/// Why so narrow: policy keys on these (quorum rules match `action`, an agent's
/// history is looked up by `agent.id`), and a person reads them in the app. With
/// one spelling per identifier, `Kubernetes:deploy`, a Cyrillic `е` or a zero-width
/// joiner cannot name something that looks the same to the approver but escapes a
/// rule written for the plain form.
pub fn is_canonical_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.len() <= MAX_IDENTIFIER_LEN
        && bytes.all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'_' | b'.' | b':' | b'/' | b'-')
        })
}

/// Whether a text field of a request may hold `c`: the deny reason's rule (no control
/// character; tab and line breaks only where `multiline`), and no invisible character
/// (see [`is_invisible_char`]) that is not plain text's business: zero-width spaces,
/// bidi embeddings, overrides and isolates, the BOM, tags, blank-looking letters,
/// Unicode line and paragraph separators. Kept because real text needs them between
/// visible characters: the space, the joiners (U+200C/U+200D, Persian and emoji),
/// the direction marks (U+200E/U+200F/U+061C, right-to-left text) and variation
/// selectors (`⚠️`).
///
/// Why: these texts come from the agent, and an invisible or direction-changing
/// character can make what the approver reads differ from what is stored
/// (`\u{202E}gpj.exe`).
pub fn check_text_char(c: char, multiline: bool) -> Result<(), TextError> {
    if matches!(c, '\t' | '\n' | '\r') {
        return if multiline {
            Ok(())
        } else {
            Err(TextError::ControlChar(c as u32))
        };
    }
    if c.is_control() {
        return Err(TextError::ControlChar(c as u32));
    }
    let kept = c == ' '
        || matches!(c, '\u{200C}'..='\u{200F}' | '\u{061C}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}');
    if !kept && (is_invisible_char(c) || matches!(c, '\u{2028}' | '\u{2029}')) {
        return Err(TextError::Invisible(c as u32));
    }
    Ok(())
}

/// [`check_text_char`] over a whole text.
pub fn check_text(text: &str, multiline: bool) -> Result<(), TextError> {
    text.chars().try_for_each(|c| check_text_char(c, multiline))
}

// ---------------------------------------------------------------------------
// Requests (strict: unknown fields are a 400)
// ---------------------------------------------------------------------------

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The decision signed by the approver's device (see [`Receipt`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyRequest {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The decision signed by the approver's device (see [`Receipt`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkApproveRequest {
    pub approval_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// See [`BulkDenyRequest::idempotency_keys`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_keys: Option<Vec<String>>,
    /// One receipt per id, in the order of `approval_ids` (see [`Receipt`]); `null`
    /// for an item sent unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts: Option<Vec<Option<Receipt>>>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkDenyRequest {
    pub approval_ids: Vec<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// One key per id, in the order of `approval_ids` (instead of the
    /// `Idempotency-Key` header). Each item is then idempotent under its own key
    /// exactly as a single approve/deny with that key: a retry replays the first
    /// answer whether it comes back alone or in another bulk, so a client may regroup
    /// queued decisions freely between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_keys: Option<Vec<String>>,
    /// One receipt per id, in the order of `approval_ids` (see [`Receipt`]); `null`
    /// for an item sent unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts: Option<Vec<Option<Receipt>>>,
}

/// The agent side of ESCALATE: `POST /approvals` with an agent token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApprovalRequest {
    /// Optional client-chosen id (`appr-...`); the server makes one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub agent: AgentRef,
    pub action: String,
    pub summary: String,
    pub reason_code: String,
    pub reason_text: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub policy_trace: Vec<TraceStep>,
    #[serde(default)]
    pub risk: RiskSnapshot,
    /// Shorter expiry than the server's default, in seconds. Longer is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    /// How many distinct approvers must approve, 1 to 5 (default 1). The server may
    /// require more for the action (its `--quorum` rules): the larger number applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_approvals: Option<i64>,
}

/// `POST /approvals/{id}/result` with an agent token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordResultRequest {
    pub outcome: ExecutionOutcome,
    #[serde(default)]
    pub output: Value,
}

// ---------------------------------------------------------------------------
// Responses (lenient: unknown fields are ignored)
// ---------------------------------------------------------------------------

/// `GET /approvals`: newest first, cursor-paginated.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalList {
    pub items: Vec<Approval>,
    /// Opaque; pass as `cursor=` to get the next page. Absent on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// `GET /approvals/changes?after=<seq>&limit=`: approvals changed after `after`,
/// ordered by `change_seq` ascending, each approval at most once (its latest state).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesPage {
    pub items: Vec<Approval>,
    /// Cursor for the next call (`after=next`): the highest `change_seq` in `items`,
    /// or the request's `after` when `items` is empty.
    pub next: i64,
    pub has_more: bool,
    /// The server's database identity: a random id made when its database was
    /// created. A different epoch than the one a client synced from means a new or
    /// rebuilt server, whose change numbers mean nothing to that client's cursor.
    /// Absent from servers older than this field.
    #[serde(default)]
    pub epoch: Option<String>,
    /// The org's latest `change_seq` when the page was read. A client cursor past it
    /// means the server went back in time (restored from a backup).
    #[serde(default)]
    pub latest: Option<i64>,
}

/// Answer to a single approve/deny: the approval as it now stands. Its
/// `change_seq` is the change the decision made.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionResponse {
    pub approval: Approval,
    pub change_seq: i64,
}

/// One item of a bulk answer. `status` is the HTTP status the item would have got
/// on its own (200, 404, 409, 400...).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkItemResult {
    pub id: String,
    pub ok: bool,
    pub status: u16,
    #[serde(default)]
    pub approval: Option<Approval>,
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkResponse {
    pub results: Vec<BulkItemResult>,
    pub succeeded: usize,
    pub failed: usize,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusTotals {
    pub pending: u64,
    pub approved: u64,
    pub denied: u64,
    pub expired: u64,
}

impl StatusTotals {
    pub fn total(&self) -> u64 {
        self.pending + self.approved + self.denied + self.expired
    }

    pub fn add(&mut self, status: ApprovalStatus, n: u64) {
        match status {
            ApprovalStatus::Pending => self.pending += n,
            ApprovalStatus::Approved => self.approved += n,
            ApprovalStatus::Denied => self.denied += n,
            ApprovalStatus::Expired => self.expired += n,
        }
    }
}

/// A row of a stats breakdown (by agent or by reason code).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsBucket {
    /// Agent id or reason code.
    pub key: String,
    pub totals: StatusTotals,
    /// Mean seconds from creation to decision, over decided approvals; `None` when none.
    #[serde(default)]
    pub average_response_secs: Option<f64>,
}

/// The order of `by_agent` and `by_reason` on the wire: busiest first, ties by key.
pub fn sort_busiest_first(buckets: &mut [StatsBucket]) {
    buckets.sort_by(|a, b| {
        b.totals
            .total()
            .cmp(&a.totals.total())
            .then_with(|| a.key.cmp(&b.key))
    });
}

/// `GET /approvals/stats?from=&to=`. Counts approvals created in `[from, to)`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    pub totals: StatusTotals,
    #[serde(default)]
    pub average_response_secs: Option<f64>,
    pub by_agent: Vec<StatsBucket>,
    pub by_reason: Vec<StatsBucket>,
    /// What the agents reported after executing the approved ones. Absent from servers
    /// older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executions: Option<ExecutionTotals>,
}

/// Outcomes of approved approvals, as their agents reported them
/// (`POST /approvals/{id}/result`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionTotals {
    pub succeeded: u64,
    pub failed: u64,
    /// Approved, no result reported yet.
    pub not_reported: u64,
}

impl ExecutionTotals {
    pub fn add(&mut self, outcome: Option<ExecutionOutcome>, n: u64) {
        match outcome {
            Some(ExecutionOutcome::Succeeded) => self.succeeded += n,
            Some(ExecutionOutcome::Failed) => self.failed += n,
            None => self.not_reported += n,
        }
    }

    /// Share of approved actions whose agent reported a failure, over all approved
    /// ones (reported or not); `None` when nothing was approved.
    pub fn failed_share(&self) -> Option<f64> {
        let approved = self.succeeded + self.failed + self.not_reported;
        (approved > 0).then(|| self.failed as f64 / approved as f64)
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditEvent {
    Created,
    Approved,
    Denied,
    Expired,
    Executed,
}

/// One entry of the append-only, hash-chained audit trail.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the server-wide chain.
    pub seq: i64,
    pub approval_id: String,
    pub event: AuditEvent,
    /// Who caused it: an approver, an agent, or `system` for expiry.
    pub actor: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Event-specific data (e.g. the execution result).
    #[serde(default)]
    pub data: Value,
    /// Hex SHA-256 of the previous entry (all zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over this entry's canonical fields and `prev_hash`.
    pub hash: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditTrail {
    pub approval_id: String,
    pub entries: Vec<AuditEntry>,
}

/// Payload of the SSE `change` event on `GET /approvals/events` (also sent as the
/// first event on connect). Heartbeats are `event: heartbeat` with the same payload.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeNotice {
    pub change_seq: i64,
}

/// `GET /api/v1/me`: who the token belongs to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhoAmI {
    pub subject: String,
    pub org_id: String,
    pub role: Role,
    /// See [`ChangesPage::epoch`].
    #[serde(default)]
    pub epoch: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Approver,
    Agent,
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The `error.code` values the server sends, so both sides spell them alike.
pub mod codes {
    /// 401: missing, malformed or unknown bearer token.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// 403: the token's role may not do this (an agent deciding, an approver creating).
    pub const FORBIDDEN: &str = "forbidden";
    /// 403: the approver raised this request under their own identity.
    pub const SELF_APPROVAL: &str = "self_approval";
    /// 404: no such approval, endpoint, or org (for this token).
    pub const NOT_FOUND: &str = "not_found";
    /// 409: already approved or denied; the body carries the approval.
    pub const ALREADY_DECIDED: &str = "already_decided";
    /// 409: this approver's approve of a quorum approval is already recorded (it still
    /// waits for others); the body carries the approval.
    pub const ALREADY_APPROVED: &str = "already_approved";
    /// 409: expired before the decision; the body carries the approval.
    pub const EXPIRED: &str = "expired";
    /// 409: `POST /approvals` with an id that exists.
    pub const ALREADY_EXISTS: &str = "already_exists";
    /// 409: a result for an approval that is not approved.
    pub const NOT_APPROVED: &str = "not_approved";
    /// 409: a second result for the same approval.
    pub const ALREADY_EXECUTED: &str = "already_executed";
    /// 422: an `Idempotency-Key` reused with a different request.
    pub const IDEMPOTENCY_MISMATCH: &str = "idempotency_mismatch";
    /// 400: a well-formed body whose content is wrong (missing reason, too long...).
    pub const VALIDATION_FAILED: &str = "validation_failed";
    /// 400: the body is not JSON.
    pub const INVALID_JSON: &str = "invalid_json";
    /// 400: the body could not be read.
    pub const INVALID_BODY: &str = "invalid_body";
    /// 400: a bad query parameter.
    pub const INVALID_QUERY: &str = "invalid_query";
    /// 400: a bad path segment.
    pub const INVALID_PATH: &str = "invalid_path";
    /// 400: an approval id of the wrong form.
    pub const INVALID_ID: &str = "invalid_id";
    /// 400: a list cursor this server did not issue.
    pub const INVALID_CURSOR: &str = "invalid_cursor";
    /// 400: an `Idempotency-Key` of the wrong form.
    pub const INVALID_IDEMPOTENCY_KEY: &str = "invalid_idempotency_key";
    /// 413: the body is over the server's limit.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// 415: a body that is not `application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// 405: the endpoint exists but not with this method.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// 422: a decision's receipt names a device key that is not registered in the
    /// org, or was revoked before the decision.
    pub const UNKNOWN_DEVICE: &str = "unknown_device";
    /// 422: a decision's receipt signature does not verify.
    pub const BAD_SIGNATURE: &str = "bad_signature";
    /// 422: a decision's receipt is for another approval, org, kind, parameters,
    /// notes or reason than the request it came with.
    pub const RECEIPT_MISMATCH: &str = "receipt_mismatch";
    /// 429: this token sent more requests (or created more approvals) than the
    /// server's per-token limit; the `Retry-After` header says how many seconds to wait.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// 422: the org requires every approver decision to carry a valid v2 receipt
    /// (the server's `--require-receipts`), and this one carries none or a v1.
    pub const RECEIPT_REQUIRED: &str = "receipt_required";
    /// 500: a server fault (logged server-side; never caused by input).
    pub const INTERNAL: &str = "internal";
    /// 401: the token was revoked (`countersign-server revoke-token`, or its device
    /// was revoked); sign in again with a new one.
    pub const TOKEN_REVOKED: &str = "token_revoked";
    /// 401: the token's expiry (`add-token --expires`) has passed; sign in again.
    pub const TOKEN_EXPIRED: &str = "token_expired";
    /// 403: an agent token creating an approval for an `agent.id` it is not bound to.
    pub const AGENT_NOT_ALLOWED: &str = "agent_not_allowed";
}

/// Whether two token subjects name the same person: subjects are unique ignoring case
/// within an org (`add-token` refuses `Alice` when `alice` exists), so quorum's
/// "distinct approvers" and the self-approval check compare them ignoring case too.
pub fn same_subject(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable, snake_case: `not_found`, `already_decided`, `expired`,
    /// `validation_failed`, `unauthorized`, `forbidden`, `idempotency_mismatch`, ...
    pub code: String,
    pub message: String,
}

/// Every 4xx/5xx body: `{"error":{"code","message"}}`. A 409 on a decision also
/// carries the approval as it now stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_ids_are_checked() {
        assert!(is_valid_approval_id("appr-xyz789"));
        assert!(is_valid_approval_id("appr-001"));
        assert!(!is_valid_approval_id("appr-"));
        assert!(!is_valid_approval_id("xyz789"));
        assert!(!is_valid_approval_id("appr-XYZ"));
        assert!(!is_valid_approval_id("appr-a/b"));
        assert!(!is_valid_approval_id(&format!("appr-{}", "a".repeat(65))));
    }

    #[test]
    fn org_ids_are_checked() {
        for ok in ["org-demo", "acme.eu", "A_1", &"o".repeat(128)] {
            assert!(is_valid_org_id(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "bad org/..",
            "a/b",
            "é",
            "org%2F",
            &"o".repeat(129),
        ] {
            assert!(!is_valid_org_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_reason_needs_a_visible_character() {
        for bad in [
            "",
            " ",
            "\u{00A0}",
            "\u{200B}",
            "\u{200B}\u{200D}\u{FEFF}",
            "\u{2800}",
            "\u{3164}",
            "\u{115F}\u{1160}",
            "\u{FE0F}",
            "\u{202E}\u{2066}",
            "\u{E0041}",
            "\t\n\r",
        ] {
            assert_eq!(check_reason(bad), Err(TextError::NotVisible), "{bad:?}");
        }
        for ok in [
            "no",
            " x ",
            "Not during the freeze",
            "\u{05D0}\u{200F}",
            "line\nline",
            "👍\u{FE0F}",
        ] {
            assert_eq!(check_reason(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn control_characters_are_refused_anywhere_in_a_reason() {
        assert_eq!(check_reason("\u{0}"), Err(TextError::ControlChar(0)));
        assert_eq!(check_reason("ok\u{0}ok"), Err(TextError::ControlChar(0)));
        assert_eq!(
            check_reason("ok\u{1B}[31m"),
            Err(TextError::ControlChar(0x1B))
        );
        assert_eq!(check_reason("ok\u{85}"), Err(TextError::ControlChar(0x85)));
        assert_eq!(
            check_reason(&"r".repeat(MAX_REASON_CHARS + 1)),
            Err(TextError::TooLong(MAX_REASON_CHARS))
        );
        assert_eq!(check_reason(&"é".repeat(MAX_REASON_CHARS)), Ok(()));
    }

    #[test]
    fn identifiers_have_one_spelling() {
        for ok in [
            "kubernetes:deploy",
            "deployment-bot",
            "0",
            "a/b.c_d:e-f",
            &"a".repeat(MAX_IDENTIFIER_LEN),
        ] {
            assert!(is_canonical_identifier(ok), "{ok}");
        }
        for bad in [
            "",
            "Kubernetes:deploy",
            "kubern\u{0435}tes:deploy",
            "kubernetes\u{200D}:deploy",
            "-bot",
            ":x",
            "a b",
            "a\tb",
            &"a".repeat(MAX_IDENTIFIER_LEN + 1),
        ] {
            assert!(!is_canonical_identifier(bad), "{bad:?}");
        }
    }

    #[test]
    fn text_fields_refuse_control_and_invisible_characters() {
        assert_eq!(check_text("a\nb\tc\r", true), Ok(()));
        assert_eq!(check_text("a\nb", false), Err(TextError::ControlChar(0x0A)));
        assert_eq!(
            check_text("a\u{1B}", true),
            Err(TextError::ControlChar(0x1B))
        );
        for bad in [
            "\u{202E}",
            "\u{200B}",
            "\u{2066}",
            "\u{FEFF}",
            "\u{E0041}",
            "\u{2028}",
            "\u{3164}",
        ] {
            assert!(
                matches!(check_text(bad, true), Err(TextError::Invisible(_))),
                "{bad:?}"
            );
        }
        // What real text needs between visible characters stays.
        for ok in ["\u{05D0}\u{200F}", "⚠\u{FE0F}", "👨\u{200D}👩", "a b", "é"] {
            assert_eq!(check_text(ok, false), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn deny_request_rejects_unknown_fields() {
        let err = serde_json::from_str::<DenyRequest>(r#"{"reason":"x","note":"typo"}"#);
        assert!(err.is_err());
        let ok: DenyRequest =
            serde_json::from_str(r#"{"reason":"Not approved during code freeze","notes":"n"}"#)
                .expect("valid");
        assert_eq!(ok.notes.as_deref(), Some("n"));
    }

    #[test]
    fn links_name_the_approval_in_the_app_and_the_api() {
        let l = ApprovalLinks::new("https://cs.example.com/", "org-demo", "appr-xyz789");
        assert_eq!(l.app, "countersign://approvals/appr-xyz789?org=org-demo");
        assert_eq!(
            l.api,
            "https://cs.example.com/api/v1/orgs/org-demo/approvals/appr-xyz789"
        );
        // An org with characters of its own stays one query value and one path segment.
        let l = ApprovalLinks::new("http://127.0.0.1:8000", "acme&co/eu", "appr-1");
        assert_eq!(l.app, "countersign://approvals/appr-1?org=acme%26co%2Feu");
        assert!(
            l.api.ends_with("/orgs/acme%26co%2Feu/approvals/appr-1"),
            "{}",
            l.api
        );
    }

    #[test]
    fn an_approval_without_links_still_parses_and_stays_without() {
        // What an older server sent, or an older cache holds: no `links`.
        let old = serde_json::json!({
            "id": "appr-1", "org_id": "org-demo",
            "agent": {"id": "bot", "name": "Bot", "version": "v1"},
            "action": "a:b", "summary": "s", "status": "pending",
            "reason_code": "R", "reason_text": "r",
            "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z",
            "requested_by": "bot", "change_seq": 1
        });
        let a: Approval = serde_json::from_value(old).expect("parses");
        assert_eq!(a.links, None);
        assert!(serde_json::to_value(&a)
            .expect("serializes")
            .get("links")
            .is_none());
    }

    #[test]
    fn risk_snapshot_keeps_extra_fields() {
        let r: RiskSnapshot =
            serde_json::from_str(r#"{"budget_used":12,"budget_limit":50,"recent_denials":2}"#)
                .expect("valid");
        assert_eq!(r.budget_used, Some(12));
        assert_eq!(r.extra.get("recent_denials"), Some(&Value::from(2)));
        let back = serde_json::to_value(&r).expect("serializes");
        assert_eq!(back["recent_denials"], 2);
    }
}
