//! Bearer tokens, stored only as their SHA-256, with their lifecycle (expiry and
//! revocation, never deletion) and, for agent tokens, the agent ids they may speak for.

use chrono::{DateTime, Utc};
use countersign_api::Role;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension, Row};
use sha2::{Digest, Sha256};

use super::{from_ms, now, to_ms};
use crate::error::ServerError;

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub org: String,
    pub subject: String,
    pub role: Role,
}

/// Prefix of a token's public id (see [`public_id`]).
pub const PUBLIC_ID_PREFIX: &str = "tok_";
/// Hex digits of the hash in a public id.
const PUBLIC_ID_HEX: usize = 12;
/// Longest subject, in characters.
pub const MAX_SUBJECT: usize = 128;
/// Longest bound agent id, in characters (the API's `agent.id` limit).
pub const MAX_AGENT_ID: usize = 128;

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token's public id: `tok_` and the first 12 hex digits of its hash. Safe to show
/// and to pass around (it cannot be turned back into the token), enough to revoke it.
pub fn public_id(hash: &str) -> String {
    format!(
        "{PUBLIC_ID_PREFIX}{}",
        &hash[..PUBLIC_ID_HEX.min(hash.len())]
    )
}

pub fn role_str(role: Role) -> &'static str {
    match role {
        Role::Approver => "approver",
        Role::Agent => "agent",
    }
}

pub fn parse_role(s: &str) -> Option<Role> {
    match s {
        "approver" => Some(Role::Approver),
        "agent" => Some(Role::Agent),
        _ => None,
    }
}

/// A fresh random token: `cs_` and 64 hex characters (256 bits).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("cs_{}", hex::encode(bytes))
}

/// The lifecycle columns; added to files made before tokens could expire, be revoked
/// or be bound to agent ids. Existing rows get NULL in all three: no expiry, not
/// revoked, and (for agent tokens) bound to their subject, see [`TokenRecord::agents`].
pub fn migrate(conn: &Connection) -> Result<(), ServerError> {
    super::schema::add_missing_columns(
        conn,
        "tokens",
        &[
            (
                "expires_at",
                "ALTER TABLE tokens ADD COLUMN expires_at INTEGER",
            ),
            (
                "revoked_at",
                "ALTER TABLE tokens ADD COLUMN revoked_at INTEGER",
            ),
            ("agents", "ALTER TABLE tokens ADD COLUMN agents TEXT"),
        ],
    )
}

/// Subjects: an ASCII letter or digit, then letters, digits and `_ . @ + -`, at most
/// [`MAX_SUBJECT`] characters. Names, e-mail addresses and service names fit; spaces,
/// control and look-alike characters do not, so two subjects that look the same are
/// the same subject.
pub fn check_subject(subject: &str) -> Result<(), String> {
    let mut chars = subject.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.@+-".contains(c));
    if !first_ok || !rest_ok || subject.len() > MAX_SUBJECT {
        return Err(format!(
            "subject {subject:?} must be 1 to {MAX_SUBJECT} characters: an ASCII letter or \
             digit, then letters, digits and _ . @ + -"
        ));
    }
    Ok(())
}

/// Agent ids a token is bound to: a lowercase letter or digit, then lowercase letters,
/// digits and `_ . : / -`, at most [`MAX_AGENT_ID`] characters (the canonical form of
/// `agent.id`). A `*` stands for any run of characters (`deploy-*`; `*` alone: any
/// agent of the org, for a policy engine that fronts many agents).
pub fn check_agent_id(id: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '*';
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(ok_char);
    let rest_ok = chars.all(|c| ok_char(c) || "_.:/-".contains(c));
    if !first_ok || !rest_ok || id.len() > MAX_AGENT_ID {
        return Err(format!(
            "agent id {id:?} must be 1 to {MAX_AGENT_ID} characters: a lowercase letter or \
             digit, then lowercase letters, digits and _ . : / - (* for any run of them)"
        ));
    }
    Ok(())
}

/// Whether a binding (an agent id, `*` standing for any run of characters) covers
/// `agent_id`. The same rule as the SQL `agent_id GLOB binding` the reads filter with
/// (bindings hold no other GLOB metacharacter).
pub fn binding_matches(binding: &str, agent_id: &str) -> bool {
    let parts: Vec<&str> = binding.split('*').collect();
    if parts.len() == 1 {
        return binding == agent_id;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if agent_id.len() < first.len() + last.len()
        || !agent_id.starts_with(first)
        || !agent_id.ends_with(last)
    {
        return false;
    }
    let mut rest = &agent_id[first.len()..agent_id.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Stores a token; returns false when it was already present (left unchanged).
/// No expiry; an agent token stored this way is bound to its subject.
pub fn insert_token(
    conn: &Connection,
    token: &str,
    owner: &TokenOwner,
) -> Result<bool, ServerError> {
    insert_token_with(conn, token, owner, &TokenOptions::default())
}

/// What a new token may do beyond its owner and role.
#[derive(Debug, Clone, Default)]
pub struct TokenOptions {
    /// When it stops working (None: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// Agent tokens: the agent ids it may speak for (empty: its subject).
    pub agents: Vec<String>,
}

/// Stores a token with an expiry and agent binding; false when already present.
pub fn insert_token_with(
    conn: &Connection,
    token: &str,
    owner: &TokenOwner,
    options: &TokenOptions,
) -> Result<bool, ServerError> {
    let agents = match owner.role {
        Role::Agent if !options.agents.is_empty() => Some(serde_json::to_string(&options.agents)?),
        _ => None,
    };
    let n = conn.execute(
        "INSERT OR IGNORE INTO tokens (hash, org, subject, role, created_at, expires_at, agents)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            hash_token(token),
            owner.org,
            owner.subject,
            role_str(owner.role),
            to_ms(now()),
            options.expires_at.map(to_ms),
            agents
        ],
    )?;
    Ok(n == 1)
}

/// Binds an existing agent token to more agent ids, keeping the ones it was bound to.
/// A token that had no binding (bound to its subject by default) is then bound to
/// exactly `agents`. For operators' scripts and test set-ups.
pub fn bind_agents(conn: &Connection, token: &str, agents: &[&str]) -> Result<(), ServerError> {
    let hash = hash_token(token);
    let Some(record) = get_by_hash(conn, &hash)? else {
        return Err(ServerError::Config("no such token".to_string()));
    };
    let mut all = record.bound.unwrap_or_default();
    for a in agents {
        if !all.iter().any(|x| x == a) {
            all.push((*a).to_string());
        }
    }
    conn.execute(
        "UPDATE tokens SET agents = ?1 WHERE hash = ?2",
        params![serde_json::to_string(&all)?, hash],
    )?;
    Ok(())
}

/// A stored token, as `list-tokens` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: String,
    pub owner: TokenOwner,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The stored binding; None for approver tokens and legacy agent tokens.
    pub bound: Option<Vec<String>>,
}

impl TokenRecord {
    pub fn id(&self) -> String {
        public_id(&self.hash)
    }

    /// The agent ids an agent token may speak for. A token made before bindings
    /// existed (or without `--agent`) is bound to its subject as the single agent id.
    pub fn agents(&self) -> Vec<String> {
        match &self.bound {
            Some(list) if !list.is_empty() => list.clone(),
            // A subject from before subjects were validated could hold a wildcard;
            // such a token is bound to nothing rather than to everything.
            _ if self.owner.subject.contains(['*', '?', '[']) => Vec::new(),
            _ => vec![self.owner.subject.clone()],
        }
    }

    /// Whether the token works at `at`.
    pub fn state_at(&self, at: DateTime<Utc>) -> TokenState {
        if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if self.expires_at.is_some_and(|e| e <= at) {
            TokenState::Expired
        } else {
            TokenState::Valid
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Valid,
    Revoked,
    Expired,
}

const TOKEN_COLUMNS: &str = "hash, org, subject, role, created_at, expires_at, revoked_at, agents";

fn record_from_row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let role: String = r.get(3)?;
    let role = parse_role(&role).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("token role {role:?}").into(),
        )
    })?;
    let bound = r
        .get::<_, Option<String>>(7)?
        .map(|t| serde_json::from_str::<Vec<String>>(&t))
        .transpose()
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e.into())
        })?;
    Ok(TokenRecord {
        hash: r.get(0)?,
        owner: TokenOwner {
            org: r.get(1)?,
            subject: r.get(2)?,
            role,
        },
        created_at: from_ms(r.get(4)?),
        expires_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
        revoked_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
        bound,
    })
}

pub fn get_by_hash(conn: &Connection, hash: &str) -> Result<Option<TokenRecord>, ServerError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"
        ))?
        .query_row([hash], record_from_row)
        .optional()?)
}

/// The stored record of a presented token (whatever its state), if any.
pub fn lookup(conn: &Connection, token: &str) -> Result<Option<TokenRecord>, ServerError> {
    get_by_hash(conn, &hash_token(token))
}

/// Who a token belongs to, if it is known and neither revoked nor expired.
pub fn lookup_token(conn: &Connection, token: &str) -> Result<Option<TokenOwner>, ServerError> {
    Ok(lookup(conn, token)?
        .filter(|r| r.state_at(now()) == TokenState::Valid)
        .map(|r| r.owner))
}

/// Every token (of `org` when given), oldest first.
pub fn list(conn: &Connection, org: Option<&str>) -> Result<Vec<TokenRecord>, ServerError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE ?1 IS NULL OR org = ?1
         ORDER BY org, created_at, hash"
    ))?;
    let rows = stmt.query_map([org], record_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The token whose public id is `id` (`tok_` + 12 hex digits).
pub fn find_by_public_id(conn: &Connection, id: &str) -> Result<Vec<TokenRecord>, ServerError> {
    let prefix = id
        .strip_prefix(PUBLIC_ID_PREFIX)
        .filter(|h| h.len() == PUBLIC_ID_HEX && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            ServerError::Config(format!(
                "token id {id:?} is not of the form {PUBLIC_ID_PREFIX} and {PUBLIC_ID_HEX} hex digits"
            ))
        })?
        .to_ascii_lowercase();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE substr(hash, 1, {PUBLIC_ID_HEX}) = ?1"
    ))?;
    let rows = stmt.query_map([prefix], record_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Marks a token revoked (once: revoking again keeps the first time). Returns whether
/// this call revoked it.
pub fn revoke_hash(conn: &Connection, hash: &str, at: DateTime<Utc>) -> Result<bool, ServerError> {
    let n = conn
        .prepare_cached("UPDATE tokens SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at IS NULL")?
        .execute(params![hash, to_ms(at)])?;
    Ok(n == 1)
}

/// The spelling of `subject` already used in `org` when it differs from `subject`
/// only by case (subjects are one person or service whatever the case).
pub fn subject_clash(
    conn: &Connection,
    org: &str,
    subject: &str,
) -> Result<Option<String>, ServerError> {
    Ok(conn
        .prepare_cached(
            "SELECT subject FROM tokens WHERE org = ?1 AND lower(subject) = lower(?2)
             AND subject != ?2 LIMIT 1",
        )?
        .query_row(params![org, subject], |r| r.get(0))
        .optional()?)
}

/// The tokens of `subject` in `org`, matched ignoring case like everywhere else.
pub fn of_subject(
    conn: &Connection,
    org: &str,
    subject: &str,
) -> Result<Vec<TokenRecord>, ServerError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE org = ?1 AND lower(subject) = lower(?2)
         ORDER BY created_at, hash"
    ))?;
    let rows = stmt.query_map(params![org, subject], record_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Whether two subjects name the same person (the comparison quorum uses too).
pub fn same_subject(a: &str, b: &str) -> bool {
    countersign_api::same_subject(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_documented_charset() {
        for ok in [
            "alice",
            "Alice",
            "a",
            "bob.smith@example.com",
            "svc+ci_1-x",
            "7",
        ] {
            assert!(check_subject(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_SUBJECT + 1);
        for bad in [
            "",
            " alice",
            "al ice",
            "-bob",
            "ali\u{0441}e",
            "a\u{200d}b",
            &long,
        ] {
            assert!(check_subject(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn agent_ids_are_canonical() {
        assert!(check_agent_id("deploy-bot").is_ok());
        assert!(check_agent_id("ns/bot:1.2_x").is_ok());
        assert!(check_agent_id("*").is_ok());
        for bad in ["", "Deploy", "-x", "a b", "b\u{0435}t", "a?", "[ab]"] {
            assert!(check_agent_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bindings_match_exactly_or_by_star() {
        assert!(binding_matches("deploy-bot", "deploy-bot"));
        assert!(!binding_matches("deploy-bot", "deploy-bot2"));
        assert!(binding_matches("*", "anything"));
        assert!(binding_matches("deploy-*", "deploy-eu"));
        assert!(!binding_matches("deploy-*", "billing"));
        assert!(binding_matches("a*b*c", "axxbyyc"));
        assert!(!binding_matches("a*b*c", "axxc"));
        assert!(!binding_matches("ab*ba", "aba"));
    }

    #[test]
    fn public_ids_are_a_prefix_of_the_hash() {
        let h = hash_token("x");
        assert_eq!(public_id(&h), format!("tok_{}", &h[..12]));
    }
}
