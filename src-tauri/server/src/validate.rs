//! Input checks shared by the handlers; each failure is a 400 naming the field.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use countersign_api::codes;
use countersign_api::{is_valid_approval_id, TextError, MAX_NOTES_CHARS};

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
        other => Ok(other),
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

/// A required text field: a visible character (the reasons' rule:
/// [`countersign_api::has_visible_char`], so a zero-width space is blank here too), at
/// most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if !countersign_api::has_visible_char(value) {
        return Err(ApiError::validation(format!(
            "{field} must not be blank (it needs a visible character)"
        )));
    }
    optional_text(field, Some(value), max)
}

pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > max => Err(ApiError::validation(format!(
            "{field} must be at most {max} characters"
        ))),
        _ => Ok(()),
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
