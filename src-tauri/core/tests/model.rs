//! Model-based test: random sequences of decide / bulk decide / network faults
//! (offline, 503, commit-then-drop of single and bulk requests) / another approver
//! decides / the clock passes an expiry / crash-restart with a different batch size
//! (so queued decisions are regrouped between attempts), against the real server behind
//! a fault proxy. After each run: every queued decision ended applied exactly once or
//! rejected/expired with a reason, no approval has two decisions, nothing was applied
//! after its expiry, and each applied decision was applied under its own key.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/proxy.rs"]
mod proxy;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use countersign_core::api::{Approval, AuditEvent, DecisionKind};
use countersign_core::{Engine, OutboxState};
use harness::*;
use proptest::prelude::*;
use proxy::{Mode, Proxy};

/// Approvals per run; index 0 expires on the server after one real second.
const POOL: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Decide {
        idx: usize,
        approve: bool,
    },
    BulkDecide {
        idxs: Vec<usize>,
        approve: bool,
    },
    Net(Mode),
    OtherApprover {
        idx: usize,
        approve: bool,
    },
    ClockPastExpiry {
        idx: usize,
    },
    WaitRealSecond,
    /// The process dies and comes back sending at most this many decisions a request.
    CrashRestart {
        max_batch: usize,
    },
    Push,
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    let idx = 0..POOL;
    prop_oneof![
        4 => (idx.clone(), any::<bool>()).prop_map(|(idx, approve)| Op::Decide { idx, approve }),
        2 => (proptest::collection::vec(0..POOL, 1..=POOL), any::<bool>())
            .prop_map(|(idxs, approve)| Op::BulkDecide { idxs, approve }),
        3 => prop_oneof![
            Just(Mode::Pass),
            Just(Mode::Refuse),
            Just(Mode::Fail503),
            Just(Mode::DropDecisionResponse)
        ]
        .prop_map(Op::Net),
        2 => (idx.clone(), any::<bool>()).prop_map(|(idx, approve)| Op::OtherApprover { idx, approve }),
        1 => idx.prop_map(|idx| Op::ClockPastExpiry { idx }),
        1 => Just(Op::WaitRealSecond),
        2 => prop_oneof![Just(1usize), Just(2), Just(3), Just(500)]
            .prop_map(|max_batch| Op::CrashRestart { max_batch }),
        3 => Just(Op::Push),
        2 => Just(Op::Sync),
    ]
}

struct World {
    _dir: tempfile::TempDir,
    server: Server,
    proxy: Proxy,
    home: std::path::PathBuf,
    offset: Arc<AtomicI64>,
    engine: Engine,
    pool: Vec<Approval>,
    /// Decisions the engine accepted into its outbox.
    queued: usize,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path()).await;
        let proxy = Proxy::start(server.addr).await;
        let mut pool = vec![create_approval(&server.url(), "short-lived", Some(1)).await];
        for i in 1..POOL {
            pool.push(
                create_approval(&server.url(), &format!("item {i}"), Some(60 * i as u64)).await,
            );
        }
        let offset = Arc::new(AtomicI64::new(0));
        let home = dir.path().join("client");
        let engine = engine_at(&home, &proxy.url(), options(offset.clone())).await;
        engine.sync_now().await.unwrap();
        World {
            _dir: dir,
            server,
            proxy,
            home,
            offset,
            engine,
            pool,
            queued: 0,
        }
    }

    async fn apply(&mut self, op: &Op) {
        let e = &self.engine;
        match op {
            Op::Decide { idx, approve } => {
                let id = &self.pool[*idx].id;
                let r = if *approve {
                    e.decide_approve(id, Some("model"))
                } else {
                    e.decide_deny(id, "model says no", None)
                };
                // Refusals (already decided or expired locally) are fine; errors are not.
                self.queued += r.expect("decide failed").entries.len();
            }
            Op::BulkDecide { idxs, approve } => {
                let ids: Vec<String> = idxs.iter().map(|i| self.pool[*i].id.clone()).collect();
                let r = if *approve {
                    e.bulk_approve(&ids, None)
                } else {
                    e.bulk_deny(&ids, "bulk no", None)
                };
                self.queued += r.expect("bulk decide failed").entries.len();
            }
            Op::Net(m) => self.proxy.set(*m),
            Op::OtherApprover { idx, approve } => {
                let kind = if *approve {
                    DecisionKind::Approve
                } else {
                    DecisionKind::Deny
                };
                let status = decide_as(&self.server.url(), BOB, &self.pool[*idx].id, kind).await;
                assert!(matches!(status, 200 | 409), "bob got {status}");
            }
            Op::ClockPastExpiry { idx } => {
                let past = (self.pool[*idx].expires_at - chrono::Utc::now()).num_seconds() + 2;
                self.offset.fetch_max(past, Ordering::SeqCst);
            }
            Op::WaitRealSecond => tokio::time::sleep(Duration::from_millis(1100)).await,
            Op::CrashRestart { max_batch } => {
                // Everything the engine knows is committed; a crash loses only memory.
                let mut opts = options(self.offset.clone());
                opts.max_batch = *max_batch;
                self.engine = Engine::open_with(&self.home, opts).unwrap();
            }
            Op::Push => {
                let _ = e.push_now().await;
            }
            Op::Sync => {
                let _ = e.sync_now().await;
            }
        }
    }

    async fn settle_and_check(&mut self) {
        self.proxy.set(Mode::Pass);
        // The short-lived approval expires on the server one real second after it was
        // made. A run that settles just before that instant pulls it as pending, and the
        // check below then reads it expired from the server (reads expire on demand): the
        // cache is not wrong, only one sync behind. Settle after the expiry instead.
        let expiry = self.pool[0].expires_at;
        while chrono::Utc::now() <= expiry {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut rounds = 0;
        loop {
            let s = self.engine.sync_now().await;
            if let Ok(s) = &s {
                if s.remaining == 0 {
                    break;
                }
            }
            rounds += 1;
            assert!(rounds < 20, "outbox never drained: {s:?}");
        }
        let base = self.server.url();
        let entries = self.engine.outbox(&[]).unwrap();
        assert_eq!(
            entries.len(),
            self.queued,
            "a queued decision vanished or appeared"
        );
        let mut applied: HashMap<String, usize> = HashMap::new();
        for e in &entries {
            match e.state {
                OutboxState::Applied => *applied.entry(e.approval_id.clone()).or_default() += 1,
                OutboxState::Rejected | OutboxState::Expired => {
                    assert!(
                        e.last_error.as_deref().is_some_and(|m| !m.is_empty()),
                        "no reason: {e:?}"
                    );
                    assert!(!e.explain().is_empty());
                }
                s => panic!("still {s:?}: {e:?}"),
            }
            if e.state == OutboxState::Expired {
                assert_eq!(e.attempts, 0, "an expired-unsent decision was sent: {e:?}");
            }
        }
        // Applied exactly under their own keys: the server's stored successes for alice
        // are the applied decisions' keys, one each, however they were grouped.
        let mut stored: Vec<String> = server_idempotency_keys(&self.server.db, "alice")
            .into_iter()
            .filter(|(_, status)| *status == 200)
            .map(|(k, _)| k)
            .collect();
        let mut applied_keys: Vec<String> = entries
            .iter()
            .filter(|e| e.state == OutboxState::Applied)
            .map(|e| e.idempotency_key.clone())
            .collect();
        stored.sort();
        applied_keys.sort();
        assert_eq!(
            stored, applied_keys,
            "applied decisions vs the server's keys"
        );
        for a in &self.pool {
            let trail = audit(&base, &a.id).await;
            let d = decisions(&trail);
            assert!(d.len() <= 1, "two decisions on {}: {d:?}", a.id);
            let current = server_approval(&base, &a.id).await;
            for (_, _, at) in &d {
                assert!(*at < current.expires_at, "applied after expiry: {}", a.id);
            }
            let by_alice = d.iter().filter(|(_, who, _)| who == "alice").count();
            let mine = applied.get(&a.id).copied().unwrap_or(0);
            assert_eq!(
                by_alice, mine,
                "{}: server has {by_alice} of alice's, client thinks {mine}",
                a.id
            );
            if let Some(e) = entries
                .iter()
                .rev()
                .find(|e| e.approval_id == a.id && e.state == OutboxState::Applied)
            {
                let ev = d[0].0;
                let want = match e.kind {
                    DecisionKind::Approve => AuditEvent::Approved,
                    DecisionKind::Deny => AuditEvent::Denied,
                };
                assert_eq!(ev, want, "{}: applied the wrong decision", a.id);
            }
            // The local cache agrees with the server once settled.
            let local = self.engine.detail(&a.id).unwrap();
            assert_eq!(local.approval.status, current.status, "{}", a.id);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=200 for a deeper run.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn decisions_end_applied_once_or_rejected_with_a_reason(ops in proptest::collection::vec(op(), 1..14)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut w = World::new().await;
            for op in &ops {
                w.apply(op).await;
            }
            w.settle_and_check().await;
            w.server.stop().await;
        });
    }
}
