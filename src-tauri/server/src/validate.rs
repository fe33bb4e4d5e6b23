//! Input checks shared by the handlers; each failure is a 400 naming the field.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use countersign_api::codes;
use countersign_api::{is_valid_approval_id, TextError, MAX_NOTES_CHARS};
use serde_json::Value;

use crate::error::ApiError;

pub fn approval_id(id: &str) -> Result<(), ApiError> {
    if is_valid_approval_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            codes::INVALID_ID,
            format!("{id:?} is not an approval id (appr- then 1 to 64 of a-z 0-9 _ -)"),
        ))
    }
}

/// Optional notes: blank means none; at most `MAX_NOTES_CHARS` characters.
pub fn notes(notes: Option<String>) -> Result<Option<String>, ApiError> {
    match notes {
        Some(n) if n.trim().is_empty() => Ok(None),
        Some(n) if n.chars().count() > MAX_NOTES_CHARS => Err(ApiError::validation(format!(
            "notes must be at most {MAX_NOTES_CHARS} characters"
        ))),
        Some(n) => {
            chars("notes", &n, Lines::Many)?;
            Ok(Some(n))
        }
        None => Ok(None),
    }
}

/// A deny reason: the API's one rule ([`countersign_api::check_reason`]): a visible
/// character, no control characters but tab and line breaks, at most
/// `MAX_REASON_CHARS` characters.
pub fn deny_reason(reason: String) -> Result<String, ApiError> {
    match countersign_api::check_reason(&reason) {
        Ok(()) => Ok(reason),
        Err(TextError::NotVisible) => Err(ApiError::validation(
            "a reason is required to deny, with at least one visible character",
        )),
        Err(e) => Err(ApiError::validation(format!("reason: {e}"))),
    }
}

/// An org id: the API's one rule ([`countersign_api::is_valid_org_id`]).
pub fn org_id(org: &str) -> Result<(), String> {
    if countersign_api::is_valid_org_id(org) {
        Ok(())
    } else {
        Err(format!("{}, got {org:?}", countersign_api::ORG_ID_RULE))
    }
}

/// Whether a text field may span lines (tab and line breaks allowed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// The characters of a text field: the API's one rule
/// ([`countersign_api::check_text`]), the message naming the field.
pub fn chars(field: &str, value: &str, lines: Lines) -> Result<(), ApiError> {
    countersign_api::check_text(value, lines == Lines::Many)
        .map_err(|e| ApiError::validation(format!("{field}: {e}")))
}

/// An identifier the agent chooses (`agent.id`, `action`, `reason_code`): the API's one
/// rule ([`countersign_api::is_canonical_identifier`]).
pub fn identifier(field: &str, value: &str) -> Result<(), ApiError> {
    if countersign_api::is_canonical_identifier(value) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "{field}: {}, got {value:?}",
            countersign_api::IDENTIFIER_RULE
        )))
    }
}

/// A required text field: a visible character (the reasons' rule:
/// [`countersign_api::has_visible_char`], so a zero-width space is blank here too), the
/// characters of [`chars`], at most `max` characters.
pub fn text(field: &str, value: &str, max: usize, lines: Lines) -> Result<(), ApiError> {
    if !countersign_api::has_visible_char(value) {
        return Err(ApiError::validation(format!(
            "{field} must not be blank (it needs a visible character)"
        )));
    }
    optional_text(field, Some(value), max, lines)
}

pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
    lines: Lines,
) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > max => Err(ApiError::validation(format!(
            "{field} must be at most {max} characters"
        ))),
        Some(v) => chars(field, v, lines),
        None => Ok(()),
    }
}

/// Every string (keys included) inside free-form JSON that the app shows as text (the
/// `risk` extras, a result's `output`): the characters of [`chars`], multi-line.
pub fn json_texts(field: &str, value: &Value) -> Result<(), ApiError> {
    match value {
        Value::String(s) => chars(field, s, Lines::Many),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| json_texts(&format!("{field}[{i}]"), v)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let path = format!("{field}.{k}");
            chars(&format!("{path} (the key)"), k, Lines::One)?;
            json_texts(&path, v)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Largest integer every JSON reader holds exactly: 2^53 − 1 (I-JSON, RFC 7493 §2.2).
pub const MAX_EXACT_INTEGER: u64 = (1 << 53) - 1;

/// Integers in free-form JSON (`params`, a result's `output`) within ±(2^53 − 1)
/// (I-JSON). The server keeps any integer exactly, but the app's window reads JSON
/// as JavaScript doubles: `9007199254740993` would be shown as `…992` while the
/// agent executes `…993`, so the approver would not see what runs. Fractions are
/// doubles everywhere and pass.
pub fn exact_numbers(field: &str, value: &Value) -> Result<(), ApiError> {
    match value {
        Value::Number(n) => {
            let exact = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u <= MAX_EXACT_INTEGER,
                (None, Some(i)) => i.unsigned_abs() <= MAX_EXACT_INTEGER,
                // Written with a fraction or an exponent, or beyond 64 bits: a double
                // here too. A whole one past 2^53 stands for an integer that cannot be
                // told from its neighbours, so it is refused like one.
                (None, None) => n
                    .as_f64()
                    .is_some_and(|f| f.fract() != 0.0 || f.abs() <= MAX_EXACT_INTEGER as f64),
            };
            if exact {
                Ok(())
            } else {
                Err(ApiError::validation(format!(
                    "{field}: the integer {n} is outside ±{MAX_EXACT_INTEGER} (2^53 − 1), \
                     which not every JSON reader holds exactly (the app would show another \
                     number); send it as a string"
                )))
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| exact_numbers(&format!("{field}[{i}]"), v)),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| exact_numbers(&format!("{field}.{k}"), v)),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// Which end of a range a date-only value stands for.
#[derive(Clone, Copy)]
pub enum Bound {
    Start,
    /// A date-only `to` covers that whole day (the range is `[from, to)`).
    End,
}

/// RFC 3339 (`2024-12-01T00:00:00Z`) or a date (`2024-12-01`, UTC midnight).
pub fn time_param(
    name: &str,
    value: Option<&str>,
    bound: Bound,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let day = match bound {
            Bound::Start => Some(d),
            Bound::End => d.succ_opt(),
        };
        if let Some(day) = day {
            return Ok(Some(day.and_time(NaiveTime::MIN).and_utc()));
        }
    }
    Err(ApiError::bad_request(
        codes::INVALID_QUERY,
        format!("{name}={v:?} is not a date (YYYY-MM-DD) or RFC 3339 time"),
    ))
}

pub fn range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<(), ApiError> {
    match (from, to) {
        (Some(f), Some(t)) if f > t => Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            "from must not be after to",
        )),
        _ => Ok(()),
    }
}

/// `limit=`: 1..=max, `default` when absent.
pub fn limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                codes::INVALID_QUERY,
                format!("limit must be a whole number from 1 to {max}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_api::MAX_REASON_CHARS;

    #[test]
    fn dates_and_times_parse_with_day_bounds() {
        let start = time_param("from", Some("2024-12-01"), Bound::Start).unwrap();
        assert_eq!(start.unwrap().to_rfc3339(), "2024-12-01T00:00:00+00:00");
        let end = time_param("to", Some("2024-12-31"), Bound::End).unwrap();
        assert_eq!(end.unwrap().to_rfc3339(), "2025-01-01T00:00:00+00:00");
        let exact = time_param("to", Some("2024-12-14T10:00:00+02:00"), Bound::End).unwrap();
        assert_eq!(exact.unwrap().to_rfc3339(), "2024-12-14T08:00:00+00:00");
        assert_eq!(time_param("from", Some("  "), Bound::Start).unwrap(), None);
        assert!(time_param("from", Some("2024-02-30"), Bound::Start).is_err());
        assert!(time_param("from", Some("last week"), Bound::Start).is_err());
    }

    #[test]
    fn notes_and_reasons_are_bounded() {
        assert_eq!(notes(Some("  ".into())).unwrap(), None);
        assert!(
            notes(Some("é".repeat(MAX_NOTES_CHARS))).is_ok(),
            "characters, not bytes"
        );
        assert!(notes(Some("n".repeat(MAX_NOTES_CHARS + 1))).is_err());
        assert!(deny_reason(String::new()).is_err());
        assert!(deny_reason("r".repeat(MAX_REASON_CHARS + 1)).is_err());
        assert_eq!(deny_reason("ok".into()).unwrap(), "ok");
        assert!(deny_reason("\u{200B}".into()).is_err());
        assert!(deny_reason("\u{0}".into()).is_err());
    }

    #[test]
    fn limits_are_checked() {
        assert_eq!(limit(None, 50, 1000).unwrap(), 50);
        assert_eq!(limit(Some("1000"), 50, 1000).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert!(limit(Some(bad), 50, 1000).is_err(), "{bad}");
        }
    }
}
