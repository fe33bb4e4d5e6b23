//! Quorum: how many distinct approvers an approval needs.
//!
//! An agent may ask for `required_approvals` when it raises a request, and the server
//! operator may set a floor per action pattern (`--quorum 'kubernetes:*=2'`). The
//! larger of the two applies: a pattern is the operator's policy, which an agent can
//! tighten but never loosen (a compromised or careless agent asking for 1 must not
//! bypass a two-person rule).

use countersign_api::{IDENTIFIER_RULE, MAX_IDENTIFIER_LEN, MAX_REQUIRED_APPROVALS};

use crate::error::ServerError;

/// One `PATTERN=N` rule: actions matching the glob need at least `required` approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumRule {
    /// Glob on the action: `*` matches any run of characters (also none), `?` one
    /// character; everything else is literal. In the canonical form of actions
    /// ([`countersign_api::is_canonical_identifier`]) plus `*` and `?`, so the match is
    /// byte for byte: an action that looks like a matching one but is spelled
    /// otherwise is refused at creation, never let through with fewer approvals.
    pub pattern: String,
    pub required: u8,
}

impl QuorumRule {
    /// Parses `PATTERN=N`, e.g. `kubernetes:*=2` (N from 1 to 5).
    pub fn parse(text: &str) -> Result<QuorumRule, ServerError> {
        let bad = |why: &str| {
            ServerError::Config(format!(
                "invalid quorum rule {text:?}: {why} (use e.g. 'kubernetes:*=2')"
            ))
        };
        let (pattern, n) = text.rsplit_once('=').ok_or_else(|| bad("missing '='"))?;
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err(bad("empty pattern"));
        }
        // The pattern is in the form actions must take (`is_canonical_identifier`), with
        // `*` and `?` added: a rule for `Kubernetes:*` would match no action at all, so
        // an operator who wrote one would believe in a rule that never applies.
        let canonical = pattern.len() <= MAX_IDENTIFIER_LEN
            && pattern.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'.' | b':' | b'/' | b'-' | b'*' | b'?')
            });
        if !canonical {
            return Err(bad(&format!(
                "the pattern is matched against actions, and {IDENTIFIER_RULE}; \
                 a pattern may add * and ?"
            )));
        }
        let required: u8 = n
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=MAX_REQUIRED_APPROVALS).contains(n))
            .ok_or_else(|| bad("the number must be from 1 to 5"))?;
        Ok(QuorumRule {
            pattern: pattern.to_string(),
            required,
        })
    }

    pub fn matches(&self, action: &str) -> bool {
        glob_match(self.pattern.as_bytes(), action.as_bytes())
    }
}

/// The approvals an action needs: the largest of what the agent asked for (1 when it
/// did not) and every matching rule. Order of the rules does not matter.
pub fn required_for(rules: &[QuorumRule], action: &str, requested: Option<u8>) -> u8 {
    rules
        .iter()
        .filter(|r| r.matches(action))
        .map(|r| r.required)
        .fold(requested.unwrap_or(1), u8::max)
}

/// Iterative glob with backtracking to the last `*`: linear in practice, never
/// exponential on patterns with many stars.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_reject_garbage() {
        assert_eq!(
            QuorumRule::parse("kubernetes:*=2").unwrap(),
            QuorumRule {
                pattern: "kubernetes:*".into(),
                required: 2
            }
        );
        for bad in [
            "kubernetes:*",
            "=2",
            "a=0",
            "a=6",
            "a=two",
            "a=-1",
            "",
            "Kubernetes:*=2",
            "kubern\u{0435}tes:*=2",
            "kubernetes\u{200D}:*=2",
            "kube rnetes:*=2",
        ] {
            assert!(QuorumRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs_match_actions() {
        let m = |p: &str, t: &str| glob_match(p.as_bytes(), t.as_bytes());
        assert!(m("kubernetes:*", "kubernetes:deploy"));
        assert!(m("kubernetes:*", "kubernetes:"));
        assert!(!m("kubernetes:*", "kube:deploy"));
        assert!(m("*:delete", "db:delete"));
        assert!(!m("*:delete", "db:delete-row"));
        assert!(m("db:?et", "db:get"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("exact", "exact"));
        assert!(!m("exact", "exactly"));
    }

    #[test]
    fn the_largest_requirement_wins() {
        let rules = vec![
            QuorumRule::parse("kubernetes:*=2").unwrap(),
            QuorumRule::parse("kubernetes:delete=3").unwrap(),
        ];
        assert_eq!(required_for(&rules, "payments:send", None), 1);
        assert_eq!(required_for(&rules, "payments:send", Some(4)), 4);
        assert_eq!(required_for(&rules, "kubernetes:deploy", None), 2);
        assert_eq!(required_for(&rules, "kubernetes:deploy", Some(1)), 2);
        assert_eq!(required_for(&rules, "kubernetes:deploy", Some(3)), 3);
        assert_eq!(required_for(&rules, "kubernetes:delete", None), 3);
    }
}
