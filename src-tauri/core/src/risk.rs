//! Risk chips: what in an approval's own data asks for a closer look (a budget nearly
//! spent, policy steps that failed or escalated). Computed here once, so the queue, the
//! detail and the CLI show the same chips.

use serde::{Deserialize, Serialize};

use crate::api::{Approval, TraceResult};

/// A budget at or above this share of its limit gets a chip.
pub const BUDGET_WARN_PERCENT: u64 = 90;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskKind {
    /// Budget used ≥ [`BUDGET_WARN_PERCENT`] of the limit.
    Budget,
    /// Policy trace steps that failed.
    Failed,
    /// Policy trace steps that escalated.
    Escalated,
}

/// One chip: its kind (for the colour) and the words to show.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskChip {
    pub kind: RiskKind,
    /// e.g. `budget 94%`, `1 step failed`, `2 steps escalated`.
    pub label: String,
}

/// The budget used as a whole percentage of the limit, when both are known.
pub fn budget_percent(used: Option<u64>, limit: Option<u64>) -> Option<u64> {
    match (used, limit) {
        (Some(u), Some(l)) if l > 0 => Some(u.saturating_mul(100) / l),
        _ => None,
    }
}

/// The chips for these facts, most serious first.
pub fn risk_chips(
    budget_used: Option<u64>,
    budget_limit: Option<u64>,
    failed: u32,
    escalated: u32,
) -> Vec<RiskChip> {
    let steps = |n: u32, what: &str| format!("{n} step{} {what}", if n == 1 { "" } else { "s" });
    let mut chips = Vec::new();
    if failed > 0 {
        chips.push(RiskChip {
            kind: RiskKind::Failed,
            label: steps(failed, "failed"),
        });
    }
    if let Some(p) = budget_percent(budget_used, budget_limit).filter(|p| *p >= BUDGET_WARN_PERCENT)
    {
        chips.push(RiskChip {
            kind: RiskKind::Budget,
            label: format!("budget {p}%"),
        });
    }
    if escalated > 0 {
        chips.push(RiskChip {
            kind: RiskKind::Escalated,
            label: steps(escalated, "escalated"),
        });
    }
    chips
}

/// [`risk_chips`] of a whole approval (the detail view; the queue reads the same facts
/// in SQL).
pub fn chips_of(a: &Approval) -> Vec<RiskChip> {
    let count = |r: TraceResult| a.policy_trace.iter().filter(|s| s.result == r).count() as u32;
    risk_chips(
        a.risk.budget_used,
        a.risk.budget_limit,
        count(TraceResult::Fail),
        count(TraceResult::Escalate),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_chip_from_ninety_percent() {
        assert!(risk_chips(Some(89), Some(100), 0, 0).is_empty());
        assert_eq!(
            risk_chips(Some(45), Some(50), 0, 0),
            vec![RiskChip {
                kind: RiskKind::Budget,
                label: "budget 90%".into()
            }]
        );
        // No limit, or a zero limit: no percentage, no chip (never a division by zero).
        assert!(risk_chips(Some(5), None, 0, 0).is_empty());
        assert!(risk_chips(Some(5), Some(0), 0, 0).is_empty());
        assert!(risk_chips(Some(u64::MAX), Some(1), 0, 0)[0]
            .label
            .starts_with("budget "));
    }

    #[test]
    fn failed_steps_first_then_budget_then_escalated() {
        let chips = risk_chips(Some(100), Some(100), 2, 1);
        let kinds: Vec<_> = chips.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![RiskKind::Failed, RiskKind::Budget, RiskKind::Escalated]
        );
        assert_eq!(chips[0].label, "2 steps failed");
        assert_eq!(chips[2].label, "1 step escalated");
    }
}
