//! What changed in a request's parameters since the last approved request of its kind:
//! a key-level diff of two JSON values. Pure and bounded: however large the parameters,
//! the answer lists at most [`Limits::entries`] changes and [`Limits::unchanged`]
//! unchanged leaves, each value cut to [`Limits::value_chars`], and says how many more
//! there were. The UI and the CLI show it as it is.
//!
//! Paths name a leaf the way people write it: `spec.replicas`, `items[2].id`, and a key
//! that is not a plain identifier quoted (`labels["app.kubernetes.io/name"]`). Objects
//! are compared key by key, arrays index by index; a value whose type changed (object
//! to array, number to string) is one changed entry at its path. A key present with
//! `null` is not a missing key: `{"a": null}` against `{}` adds `a`.

use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How much of a diff to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Added, removed and changed entries listed.
    pub entries: usize,
    /// Unchanged leaves listed (the UI folds them).
    pub unchanged: usize,
    /// Characters of each value shown (compact JSON), then `…`.
    pub value_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: 200,
            unchanged: 100,
            value_chars: 200,
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffChange {
    /// In this request, not in the last approved one.
    Added,
    /// In the last approved request, not in this one.
    Removed,
    Changed,
}

/// One leaf that differs. Values are compact JSON, cut to the limit.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffEntry {
    /// `""` for the parameters as a whole (when they are not an object or array).
    pub path: String,
    pub change: DiffChange,
    /// In the last approved request (absent when added).
    pub old: Option<String>,
    /// In this request (absent when removed).
    pub new: Option<String>,
}

/// One leaf equal on both sides.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnchangedEntry {
    pub path: String,
    pub value: String,
}

/// The diff of two parameter values; counts cover every leaf, lists stop at the limits.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamsDiff {
    /// Differences in path order (keys sorted, array items by index).
    pub entries: Vec<DiffEntry>,
    /// Differences beyond `entries` ("+N more").
    pub more_entries: u64,
    pub unchanged: Vec<UnchangedEntry>,
    /// Unchanged leaves beyond `unchanged`.
    pub more_unchanged: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub unchanged_count: u64,
}

impl ParamsDiff {
    /// Whether the two values are equal.
    pub fn is_same(&self) -> bool {
        self.added + self.removed + self.changed == 0
    }
}

/// Diff of `new` (this request) against `old` (the last approved one).
pub fn diff(old: &Value, new: &Value) -> ParamsDiff {
    diff_with(old, new, Limits::default())
}

pub fn diff_with(old: &Value, new: &Value, limits: Limits) -> ParamsDiff {
    let mut w = Walk {
        limits,
        out: ParamsDiff::default(),
        path: String::new(),
    };
    w.walk(Some(old), Some(new));
    w.out
}

struct Walk {
    limits: Limits,
    out: ParamsDiff,
    path: String,
}

impl Walk {
    fn walk(&mut self, old: Option<&Value>, new: Option<&Value>) {
        match (old, new) {
            (Some(Value::Object(o)), Some(Value::Object(n))) if !(o.is_empty() && n.is_empty()) => {
                // In key order over both sides, so a removed key sits where it was.
                let mut keys: Vec<&String> = n
                    .keys()
                    .chain(o.keys().filter(|k| !n.contains_key(*k)))
                    .collect();
                keys.sort_unstable();
                for k in keys {
                    self.at_key(k, |w| w.walk(o.get(k), n.get(k)));
                }
            }
            (Some(Value::Array(o)), Some(Value::Array(n))) if !(o.is_empty() && n.is_empty()) => {
                for i in 0..o.len().max(n.len()) {
                    let len = self.path.len();
                    self.path.push_str(&format!("[{i}]"));
                    self.walk(o.get(i), n.get(i));
                    self.path.truncate(len);
                }
            }
            (Some(o), Some(n)) if o == n => {
                self.out.unchanged_count += 1;
                if self.out.unchanged.len() < self.limits.unchanged {
                    let value = self.show(n);
                    self.out.unchanged.push(UnchangedEntry {
                        path: self.path.clone(),
                        value,
                    });
                } else {
                    self.out.more_unchanged += 1;
                }
            }
            (None, None) => {}
            (o, n) => {
                let change = match (o, n) {
                    (None, _) => DiffChange::Added,
                    (_, None) => DiffChange::Removed,
                    _ => DiffChange::Changed,
                };
                match change {
                    DiffChange::Added => self.out.added += 1,
                    DiffChange::Removed => self.out.removed += 1,
                    DiffChange::Changed => self.out.changed += 1,
                }
                if self.out.entries.len() < self.limits.entries {
                    let old = o.map(|v| self.show(v));
                    let new = n.map(|v| self.show(v));
                    self.out.entries.push(DiffEntry {
                        path: self.path.clone(),
                        change,
                        old,
                        new,
                    });
                } else {
                    self.out.more_entries += 1;
                }
            }
        }
    }

    fn at_key(&mut self, k: &str, f: impl FnOnce(&mut Self)) {
        let len = self.path.len();
        push_key(&mut self.path, k);
        f(self);
        self.path.truncate(len);
    }

    /// Compact JSON of `v`, at most `value_chars` characters (then `…`). Serialises no
    /// more than it keeps, so a megabyte added under one key costs what it shows.
    fn show(&self, v: &Value) -> String {
        let max = self.limits.value_chars;
        let mut buf = Capped {
            buf: Vec::new(),
            // Every character is at most 4 bytes; one more to know it was cut.
            cap: max * 4 + 4,
        };
        // An error here only means the cap was reached.
        let _ = serde_json::to_writer(&mut buf, v);
        let text = String::from_utf8_lossy(&buf.buf);
        let mut chars = text.chars();
        let shown: String = chars.by_ref().take(max).collect();
        if chars.next().is_some() || buf.buf.len() >= buf.cap {
            format!("{shown}…")
        } else {
            shown
        }
    }
}

/// `.key` for identifiers (no dot at the start), `["any key"]` for the rest.
fn push_key(path: &mut String, k: &str) {
    let plain = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k);
    } else {
        path.push('[');
        path.push_str(&Value::from(k).to_string());
        path.push(']');
    }
}

/// A writer that takes bytes up to `cap`, then refuses.
struct Capped {
    buf: Vec<u8>,
    cap: usize,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.cap.saturating_sub(self.buf.len());
        if room == 0 {
            return Err(std::io::Error::other("value cut at the display limit"));
        }
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(d: &ParamsDiff) -> Vec<(&str, DiffChange, Option<&str>, Option<&str>)> {
        d.entries
            .iter()
            .map(|e| {
                (
                    e.path.as_str(),
                    e.change,
                    e.old.as_deref(),
                    e.new.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn nested_objects_are_compared_key_by_key() {
        let old = json!({"spec": {"replicas": 3, "image": "app:v1"}, "namespace": "prod"});
        let new = json!({"spec": {"replicas": 5, "image": "app:v1", "paused": false}, "namespace": "prod"});
        let d = diff(&old, &new);
        assert_eq!(
            paths(&d),
            vec![
                ("spec.paused", DiffChange::Added, None, Some("false")),
                ("spec.replicas", DiffChange::Changed, Some("3"), Some("5")),
            ]
        );
        assert_eq!(
            (d.added, d.removed, d.changed, d.unchanged_count),
            (1, 0, 1, 2)
        );
        let unchanged: Vec<&str> = d.unchanged.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(unchanged, vec!["namespace", "spec.image"]);
        assert_eq!(d.unchanged[1].value, "\"app:v1\"");
    }

    #[test]
    fn arrays_are_compared_by_index() {
        let old = json!({"items": [{"id": 1}, {"id": 2}, {"id": 3}]});
        let new = json!({"items": [{"id": 1}, {"id": 2}, {"id": 30}, {"id": 4}]});
        let d = diff(&old, &new);
        assert_eq!(
            paths(&d),
            vec![
                ("items[2].id", DiffChange::Changed, Some("3"), Some("30")),
                ("items[3]", DiffChange::Added, None, Some("{\"id\":4}")),
            ]
        );
        // Shorter now: the tail is removed, index by index.
        let d = diff(&json!([1, 2, 3]), &json!([1]));
        assert_eq!(
            paths(&d),
            vec![
                ("[1]", DiffChange::Removed, Some("2"), None),
                ("[2]", DiffChange::Removed, Some("3"), None),
            ]
        );
    }

    #[test]
    fn a_type_change_is_one_changed_entry_at_its_path() {
        let old = json!({"spec": {"replicas": 3}, "count": 1, "tags": ["a"]});
        let new = json!({"spec": [3], "count": "1", "tags": {"0": "a"}});
        let d = diff(&old, &new);
        assert_eq!(
            paths(&d),
            vec![
                ("count", DiffChange::Changed, Some("1"), Some("\"1\"")),
                (
                    "spec",
                    DiffChange::Changed,
                    Some("{\"replicas\":3}"),
                    Some("[3]")
                ),
                (
                    "tags",
                    DiffChange::Changed,
                    Some("[\"a\"]"),
                    Some("{\"0\":\"a\"}")
                ),
            ]
        );
        assert_eq!(d.unchanged_count, 0);
    }

    #[test]
    fn null_is_a_value_and_missing_is_not() {
        let d = diff(&json!({"b": 1}), &json!({"a": null, "b": null}));
        assert_eq!(
            paths(&d),
            vec![
                ("a", DiffChange::Added, None, Some("null")),
                ("b", DiffChange::Changed, Some("1"), Some("null")),
            ]
        );
        let d = diff(&json!({"a": null}), &json!({}));
        assert_eq!(
            paths(&d),
            vec![("a", DiffChange::Removed, Some("null"), None)]
        );
        // Parameters absent altogether (null) against an object: the whole value changed.
        let d = diff(&Value::Null, &json!({"a": 1}));
        assert_eq!(
            paths(&d),
            vec![("", DiffChange::Changed, Some("null"), Some("{\"a\":1}"))]
        );
    }

    #[test]
    fn equal_values_fold_into_unchanged_and_empty_containers_are_leaves() {
        let v = json!({"a": {}, "b": [], "c": {"d": [1, 2]}});
        let d = diff(&v, &v);
        assert!(d.is_same());
        assert!(d.entries.is_empty());
        let unchanged: Vec<&str> = d.unchanged.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(unchanged, vec!["a", "b", "c.d[0]", "c.d[1]"]);
        assert_eq!(d.unchanged[0].value, "{}");
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        let old = json!({"labels": {"app.kubernetes.io/name": "web", "": 1, "9lives": 2}});
        let new = json!({"labels": {"app.kubernetes.io/name": "api", "": 1, "9lives": 3}});
        let d = diff(&old, &new);
        let p: Vec<&str> = d.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            p,
            vec![r#"labels["9lives"]"#, r#"labels["app.kubernetes.io/name"]"#]
        );
        assert_eq!(d.unchanged[0].path, r#"labels[""]"#);
    }

    #[test]
    fn huge_input_stays_bounded_and_counts_everything() {
        let n = 200_000;
        let old: Vec<Value> = (0..n).map(|i| json!({"id": i, "v": "x"})).collect();
        let mut new = old.clone();
        for (i, item) in new.iter_mut().enumerate() {
            if i % 2 == 0 {
                item["v"] = json!("y");
            }
        }
        let big = "z".repeat(1_000_000);
        let old = json!({"items": old});
        let new = json!({"items": new, "blob": big});
        let d = diff(&old, &new);
        let limits = Limits::default();
        assert_eq!(d.changed, (n / 2) as u64);
        assert_eq!(d.added, 1);
        assert_eq!(d.unchanged_count, (n + n / 2) as u64);
        assert_eq!(d.entries.len(), limits.entries);
        assert_eq!(d.more_entries, (n / 2 + 1 - limits.entries) as u64);
        assert_eq!(d.unchanged.len(), limits.unchanged);
        assert_eq!(d.more_unchanged, (n + n / 2 - limits.unchanged) as u64);
        // The removed/added blob is cut, not copied whole.
        let d = diff(&json!({}), &json!({"blob": "z".repeat(1_000_000)}));
        let shown = d.entries[0].new.as_deref().unwrap_or_default();
        assert_eq!(shown.chars().count(), limits.value_chars + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn values_are_cut_at_a_character_not_a_byte() {
        let limits = Limits {
            entries: 10,
            unchanged: 10,
            value_chars: 5,
        };
        let d = diff_with(&json!("é"), &json!("ééééééé"), limits);
        assert_eq!(d.entries[0].new.as_deref(), Some("\"éééé…"));
        assert_eq!(d.entries[0].old.as_deref(), Some("\"é\""));
    }
}
