//! The fault matrix: every fault the testkit injects, against the month-end post flow
//! (Looker → Acumatica, exactly once), the approved-vendor reference flow (Looker → Acumatica,
//! upsert by key) and the warehouse feed (Acumatica → warehouse).
//!
//! For each fault and flow the flow runs once with the fault active. Either it completes, or it
//! fails with an error; then the fault is cleared and a rerun must complete. Either way the end
//! state must be exact: Acumatica holds each expected journal once (none missing, none twice),
//! every vendor holds Looker's values and the one missing vendor was created once, and the
//! warehouse equals the source. The observed outcome of every cell is written to
//! `$CARGO_TARGET_TMPDIR/fault_matrix.md`, the table in `RELIABILITY.md`.
//!
//! The clients use millisecond backoff and a 2 s request timeout ([`Retries::Fast`]), the same
//! attempt counts as in production.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use ml_connector_tests::harness::{self, Retries};
use sync_core::post::DocumentState;
use sync_core::reference::RecordOutcome;
use sync_core::store::RunStatus;
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::faults::{FaultKind, FaultRule, Faults};
use testkit::looker::{LookerConfig, LookerFake};
use testkit::server::FakeServer;

const JT_PUT: &str = "/entity/Default/24.200.001/JournalTransaction";
const VENDOR_PUT: &str = "/entity/Default/24.200.001/Vendor";
const ACU_ALL: &str = "/entity/**";
const LOOKER_ALL: &str = "/api/4.0/**";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flow {
    Post,
    Reference,
    Feed,
}

impl Flow {
    fn label(self) -> &'static str {
        match self {
            Flow::Post => "month-end post",
            Flow::Reference => "vendor reference",
            Flow::Feed => "warehouse feed",
        }
    }
}

/// Where a case puts its fault.
type Install = fn(acu: &Faults, looker: &Faults);

struct Case {
    fault: &'static str,
    flows: &'static [Flow],
    install: Install,
}

const BOTH: &[Flow] = &[Flow::Post, Flow::Reference, Flow::Feed];
const POST: &[Flow] = &[Flow::Post];
const REFERENCE: &[Flow] = &[Flow::Reference];

fn cases() -> Vec<Case> {
    fn both(acu: &Faults, looker: &Faults, rule: impl Fn(&str) -> FaultRule) {
        acu.add(rule(ACU_ALL));
        looker.add(rule(LOOKER_ALL));
    }
    vec![
        Case {
            fault: "429 storm with `Retry-After: 1` (every 2nd request, both services)",
            flows: BOTH,
            install: |a, l| {
                both(a, l, |p| {
                    FaultRule::new(FaultKind::TooManyRequests {
                        retry_after: Some(1),
                    })
                    .path(p)
                    .every(2)
                })
            },
        },
        Case {
            fault: "429 storm without `Retry-After` (every 2nd request, both services)",
            flows: BOTH,
            install: |a, l| {
                both(a, l, |p| {
                    FaultRule::new(FaultKind::TooManyRequests { retry_after: None })
                        .path(p)
                        .every(2)
                })
            },
        },
        Case {
            fault: "429 on every insert (PUT) — a storm longer than the retry budget",
            flows: POST,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::TooManyRequests { retry_after: None })
                        .method("PUT")
                        .path(JT_PUT),
                );
            },
        },
        Case {
            fault: "401 mid-run, Acumatica (token expires every 2 requests)",
            flows: BOTH,
            install: |a, _| a.expire_tokens_after_requests(2),
        },
        Case {
            fault: "401 mid-run, Looker (token expires every 3 requests)",
            flows: POST,
            install: |_, l| l.expire_tokens_after_requests(3),
        },
        Case {
            fault: "5xx burst: three 503 after the first 3 requests (both services)",
            flows: BOTH,
            install: |a, l| {
                both(a, l, |p| {
                    FaultRule::new(FaultKind::ServerError { status: 503 })
                        .path(p)
                        .after(3, 3)
                })
            },
        },
        Case {
            fault: "500 on two inserts (PUT, handler not run)",
            flows: POST,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::ServerError { status: 500 })
                        .method("PUT")
                        .path(JT_PUT)
                        .times(2),
                );
            },
        },
        Case {
            fault: "outage: every Acumatica request answers 503",
            flows: BOTH,
            install: |a, _| {
                a.add(FaultRule::new(FaultKind::ServerError { status: 503 }).path(ACU_ALL));
            },
        },
        Case {
            fault: "latency spike: 300 ms on every 3rd request (both services)",
            flows: BOTH,
            install: |a, l| {
                both(a, l, |p| {
                    FaultRule::new(FaultKind::Latency(Duration::from_millis(300)))
                        .path(p)
                        .every(3)
                })
            },
        },
        Case {
            fault: "latency past the 2 s client timeout on one read (GET)",
            flows: BOTH,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::Latency(Duration::from_millis(2500)))
                        .method("GET")
                        .path(ACU_ALL)
                        .after(2, 1),
                );
            },
        },
        Case {
            fault: "latency past the 2 s client timeout on one insert (PUT; the write lands late)",
            flows: POST,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::Latency(Duration::from_millis(2500)))
                        .method("PUT")
                        .path(JT_PUT)
                        .times(1),
                );
            },
        },
        Case {
            fault: "licence queue: one insert (PUT) held 3 s, past the 2 s client timeout, then applied although the client gave up",
            flows: POST,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::Queued(Duration::from_secs(3)))
                        .method("PUT")
                        .path(JT_PUT)
                        .times(1),
                );
            },
        },
        Case {
            fault: "licence queue: every 3rd insert (PUT) held 3 s, past the 2 s client timeout, then applied",
            flows: POST,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::Queued(Duration::from_secs(3)))
                        .method("PUT")
                        .path(JT_PUT)
                        .every(3),
                );
            },
        },
        Case {
            fault: "connection dropped after an applied insert (two PUTs)",
            flows: POST,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::DropAfterWrite)
                        .method("PUT")
                        .path(JT_PUT)
                        .times(2),
                );
            },
        },
        Case {
            fault: "connection dropped before the handler (every 3rd request, both services)",
            flows: BOTH,
            install: |a, l| {
                both(a, l, |p| {
                    FaultRule::new(FaultKind::DropBeforeHandler)
                        .path(p)
                        .every(3)
                })
            },
        },
        Case {
            fault: "truncated body on reads (two GETs per service)",
            flows: BOTH,
            install: |a, l| {
                a.add(
                    FaultRule::new(FaultKind::TruncatedBody)
                        .method("GET")
                        .path(ACU_ALL)
                        .after(1, 2),
                );
                l.add(
                    FaultRule::new(FaultKind::TruncatedBody)
                        .method("GET")
                        .path(LOOKER_ALL)
                        .after(1, 2),
                );
            },
        },
        Case {
            fault: "truncated body on an applied insert (PUT)",
            flows: POST,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::TruncatedBody)
                        .method("PUT")
                        .path(JT_PUT)
                        .times(1),
                );
            },
        },
        Case {
            fault: "malformed JSON on reads (two GETs per service)",
            flows: BOTH,
            install: |a, l| {
                a.add(
                    FaultRule::new(FaultKind::MalformedBody)
                        .method("GET")
                        .path(ACU_ALL)
                        .after(1, 2),
                );
                l.add(
                    FaultRule::new(FaultKind::MalformedBody)
                        .method("GET")
                        .path(LOOKER_ALL)
                        .after(1, 2),
                );
            },
        },
        Case {
            fault: "malformed JSON answering an applied insert (PUT)",
            flows: POST,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::MalformedBody)
                        .method("PUT")
                        .path(JT_PUT)
                        .times(1),
                );
            },
        },
        Case {
            fault: "429 on every vendor write (PUT) — a storm longer than the retry budget",
            flows: REFERENCE,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::TooManyRequests { retry_after: None })
                        .method("PUT")
                        .path(VENDOR_PUT),
                );
            },
        },
        Case {
            fault: "500 on both vendor writes (PUT, handler not run)",
            flows: REFERENCE,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::ServerError { status: 500 })
                        .method("PUT")
                        .path(VENDOR_PUT)
                        .times(2),
                );
            },
        },
        Case {
            fault: "connection dropped after both applied vendor writes (update and insert)",
            flows: REFERENCE,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::DropAfterWrite)
                        .method("PUT")
                        .path(VENDOR_PUT)
                        .times(2),
                );
            },
        },
        Case {
            fault: "latency past the 2 s client timeout on a vendor write (the write lands late)",
            flows: REFERENCE,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::Latency(Duration::from_millis(2500)))
                        .method("PUT")
                        .path(VENDOR_PUT)
                        .times(1),
                );
            },
        },
        Case {
            fault: "truncated and malformed bodies answering applied vendor writes",
            flows: REFERENCE,
            install: |a, _| {
                a.add(
                    FaultRule::new(FaultKind::TruncatedBody)
                        .method("PUT")
                        .path(VENDOR_PUT)
                        .times(1),
                );
                a.add(
                    FaultRule::new(FaultKind::MalformedBody)
                        .method("PUT")
                        .path(VENDOR_PUT)
                        .after(1, 1),
                );
            },
        },
        Case {
            fault: "HTML proxy page 502 (two requests per service)",
            flows: BOTH,
            install: |a, l| {
                both(a, l, |p| {
                    FaultRule::new(FaultKind::ProxyErrorPage { status: 502 })
                        .path(p)
                        .after(2, 2)
                })
            },
        },
    ]
}

struct Env {
    acu: AcumaticaFake,
    looker_fake: LookerFake,
    looker: FakeServer,
    dir: tempfile::TempDir,
    /// Post runs of the rerun that left writes possibly still queued in Acumatica and were run
    /// again after their settle horizon.
    deferred: std::sync::atomic::AtomicU32,
}

impl Env {
    async fn start() -> Self {
        let acu = AcumaticaFake::start(
            AcumaticaOptions::default()
                .journal_transactions(30)
                .max_sessions(1000),
        )
        .await
        .unwrap();
        let months = harness::months();
        let looker_fake = LookerFake::new(
            LookerConfig::default().with_months(months[0], *months.last().unwrap()),
        )
        .unwrap();
        let looker = looker_fake.serve().await.unwrap();
        Env {
            acu,
            looker_fake,
            looker,
            dir: tempfile::tempdir().unwrap(),
            deferred: std::sync::atomic::AtomicU32::new(0),
        }
    }

    fn clear(&self) {
        for f in [self.acu.faults(), self.looker_fake.faults()] {
            f.clear();
            f.expire_tokens_after_requests(u64::MAX);
        }
    }

    /// Runs `flow` once; `Err` carries the first error (the remaining months still run). A
    /// rerun (`settle`) of the post flow whose only problems are writes that may still be
    /// queued runs again once their settle horizon has passed, as the run tells an operator.
    async fn run(&self, flow: Flow, settle: bool) -> Result<(), String> {
        let acumatica = harness::acumatica_client(self.acu.url(), Retries::Fast);
        let store = harness::open_store(
            &self.dir.path().join("state.db").display().to_string(),
            None,
        )
        .await
        .unwrap();
        let mut first_error = None;
        match flow {
            Flow::Post => {
                let looker = harness::looker_client(self.looker.url(), Retries::Fast);
                for month in harness::months() {
                    let f = harness::post_flow(&looker, &acumatica, store.clone(), month, "matrix")
                        .unwrap();
                    let run = if settle {
                        harness::run_post_until_settled(&f)
                            .await
                            .map(|(s, deferred)| {
                                self.deferred
                                    .fetch_add(deferred, std::sync::atomic::Ordering::SeqCst);
                                s
                            })
                    } else {
                        f.run().await
                    };
                    let e = match run {
                        Ok(s) if s.status == RunStatus::Succeeded => continue,
                        Ok(s) => s
                            .documents
                            .iter()
                            .find_map(|d| match &d.state {
                                DocumentState::Failed { error } => Some(format!("journal failed: {error}")),
                                DocumentState::Pending { error } => {
                                    Some(format!("journal left pending (outcome unknown, reconciled next run): {error}"))
                                }
                                _ => None,
                            })
                            .unwrap_or_else(|| s.to_string()),
                        Err(e) => e.to_string(),
                    };
                    first_error.get_or_insert(e);
                }
            }
            Flow::Reference => {
                let looker = harness::looker_client(self.looker.url(), Retries::Fast);
                let f = harness::reference_flow(&looker, &acumatica, store, "matrix").unwrap();
                match f.run().await {
                    Ok(s) if s.status == RunStatus::Succeeded => {}
                    Ok(s) => {
                        first_error = Some(
                            s.records
                                .iter()
                                .find_map(|r| match &r.outcome {
                                    RecordOutcome::Rejected { error, .. }
                                    | RecordOutcome::Failed { error, .. } => {
                                        Some(format!("vendor {}: {error}", r.key))
                                    }
                                    _ => None,
                                })
                                .unwrap_or_else(|| s.to_string()),
                        )
                    }
                    Err(e) => first_error = Some(e.to_string()),
                }
            }
            Flow::Feed => {
                let warehouse = self.warehouse().await;
                let f = harness::feed_flow(&acumatica, warehouse, store, "matrix").unwrap();
                match f.run().await {
                    Ok(s) if s.status == RunStatus::Succeeded => {}
                    Ok(s) => {
                        first_error = Some(
                            s.entities
                                .iter()
                                .find_map(|w| {
                                    w.error
                                        .as_ref()
                                        .map(|e| format!("{} window failed: {e}", w.entity))
                                })
                                .unwrap_or_else(|| s.to_string()),
                        )
                    }
                    Err(e) => first_error = Some(e.to_string()),
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn warehouse(&self) -> Arc<dyn sync_core::warehouse::WarehouseSink> {
        harness::open_warehouse(
            &self.dir.path().join("warehouse.db").display().to_string(),
            None,
        )
        .await
        .unwrap()
    }

    /// The end state of `flow`, or what is wrong with it.
    async fn check(&self, flow: Flow) -> Result<String, String> {
        match flow {
            Flow::Post => harness::check_journals(self.acu.state()).map(|n| {
                let puts = self.acu.log().count("PUT", JT_PUT);
                format!("{n} journals once ({puts} PUTs)")
            }),
            Flow::Reference => harness::check_vendors(self.acu.state()).map(|n| {
                let puts = self.acu.log().count("PUT", VENDOR_PUT);
                format!("{n} vendors match, 1 created once ({puts} PUTs)")
            }),
            Flow::Feed => {
                harness::check_warehouse(self.acu.state(), self.warehouse().await.as_ref())
                    .await
                    .map(|n| format!("{n} records equal"))
            }
        }
    }

    async fn shutdown(self) {
        self.looker.shutdown().await;
        self.acu.shutdown().await;
    }
}

/// One cell: the observed outcome, or the violation.
async fn cell(case_index: usize, flow: Flow) -> Result<String, String> {
    let case = &cases()[case_index];
    let env = Env::start().await;
    if flow == Flow::Reference {
        harness::drift_vendors(&harness::acumatica_client(env.acu.url(), Retries::Fast)).await;
        env.acu.log().reset();
    }
    (case.install)(env.acu.faults(), env.looker_fake.faults());
    let first = env.run(flow, false).await;
    let fired = fired(&env);
    let outcome = match first {
        Ok(()) => {
            let end = env.check(flow).await?;
            format!("completed; {end}")
        }
        Err(error) => {
            // A clear error: says what failed, no raw HTML or JSON dumps.
            if error.trim().is_empty() || error.contains("<html") || error.contains("<!DOCTYPE") {
                return Err(format!("unclear error: {error:?}"));
            }
            // Whatever was written must already be exact (no duplicates; nothing half-done).
            if flow == Flow::Post
                && let Err(e) = harness::check_journals(env.acu.state())
                && e.contains("times")
            {
                return Err(format!("after the failed run: {e}"));
            }
            if flow == Flow::Reference && env.acu.state().created("Vendor") > 1 {
                return Err("after the failed run: a vendor was created twice".into());
            }
            env.clear();
            env.run(flow, true)
                .await
                .map_err(|e| format!("the rerun failed too: {e}"))?;
            let end = env.check(flow).await?;
            let deferred = env.deferred.load(std::sync::atomic::Ordering::SeqCst);
            let waited = if deferred > 0 {
                format!(
                    " (after {deferred} run(s) that left a possibly queued write pending until its settle horizon)"
                )
            } else {
                String::new()
            };
            format!(
                "failed: \u{201c}{}\u{201d}; rerun completed{waited}; {end}",
                one_line(&error)
            )
        }
    };
    env.shutdown().await;
    Ok(format!("{outcome} [{fired} faults fired]"))
}

fn fired(env: &Env) -> u64 {
    // `Faults` reports per rule; the log records each applied fault.
    let count = |entries: Vec<testkit::inspect::RequestRecord>| {
        entries.iter().filter(|r| r.fault.is_some()).count() as u64
    };
    // Token expiry is a policy, not a rule: count the 401 answers it caused.
    count(env.acu.log().entries())
        + count(env.looker.log().entries())
        + (env.acu.log().count_status(401) + env.looker.log().count_status(401)) as u64
}

fn one_line(s: &str) -> String {
    let s = s.replace(['\n', '|'], " ");
    if s.chars().count() > 220 {
        format!("{}…", s.chars().take(220).collect::<String>())
    } else {
        s
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_ends_exact_or_fails_clearly_and_a_rerun_completes() {
    let mut set = tokio::task::JoinSet::new();
    for (i, case) in cases().iter().enumerate() {
        for &flow in case.flows {
            set.spawn(async move { (i, flow, cell(i, flow).await) });
        }
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        results.push(r.unwrap());
    }
    results.sort_by_key(|(i, f, _)| (*i, *f as u8));

    let mut table = String::from("| Fault | Flow | Observed outcome |\n|---|---|---|\n");
    let mut violations = Vec::new();
    for (i, flow, r) in &results {
        let fault = cases()[*i].fault;
        let text = match r {
            Ok(o) => o.clone(),
            Err(e) => {
                violations.push(format!("{fault} / {}: {e}", flow.label()));
                format!("**VIOLATION**: {}", one_line(e))
            }
        };
        writeln!(table, "| {fault} | {} | {text} |", flow.label()).unwrap();
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault_matrix.md");
    std::fs::write(&path, &table).unwrap();
    println!("{table}\nwritten to {}", path.display());
    assert!(
        violations.is_empty(),
        "fault matrix violations:\n{}",
        violations.join("\n")
    );
}
