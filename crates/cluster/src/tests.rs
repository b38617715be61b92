//! The placer, and heartbeats against real heartbeat services on loopback.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::*;

fn slot(id: u64, tablets: usize, disk_used: u32) -> Slot {
    Slot {
        id: BackendId(id),
        tablets,
        disk_used,
    }
}

#[test]
fn placer_balances_by_tablet_count() {
    let mut p = Placer {
        slots: vec![slot(10001, 4, 0), slot(10002, 0, 0), slot(10003, 1, 0)],
    };
    let picked = p.take(6);
    let count = |id| picked.iter().filter(|b| b.0 == id).count();
    // The emptiest first; equals by id.
    assert_eq!(picked[0], BackendId(10002));
    assert_eq!((count(10001), count(10002), count(10003)), (0, 4, 2));
    assert_eq!(p.take(3).len(), 3);
    let counts: Vec<usize> = p.slots.iter().map(|s| s.tablets).collect();
    assert_eq!(counts, vec![5, 5, 4]);
}

#[test]
fn placer_breaks_tablet_ties_by_disk_usage() {
    let mut p = Placer {
        slots: vec![slot(10001, 2, 700), slot(10002, 2, 100), slot(10003, 3, 0)],
    };
    // 10001 and 10002 hold as many tablets; 10002's disk is emptier.
    assert_eq!(p.pick(), BackendId(10002));
    // Now 10001 holds the fewest.
    assert_eq!(p.pick(), BackendId(10001));
    // All at 3: the emptiest disk, 10003, then 10002, then 10001.
    assert_eq!(
        p.take(3),
        vec![BackendId(10003), BackendId(10002), BackendId(10001)]
    );
}

#[test]
fn placer_prefers_fewer_tablets_over_an_emptier_disk() {
    let mut p = Placer {
        slots: vec![slot(10001, 0, 990), slot(10002, 1, 0)],
    };
    assert_eq!(p.pick(), BackendId(10001));
}

#[test]
fn placer_follows_a_colocation_group_and_picks_for_its_dead_backends() {
    let mut p = Placer {
        slots: vec![slot(10001, 9, 0), slot(10002, 0, 0), slot(10004, 5, 0)],
    };
    // The group's sequence wins over balance; 10003 is not alive, so its replica goes to
    // the emptiest backend the bucket does not use yet.
    let b = |ids: &[u64]| ids.iter().map(|&i| BackendId(i)).collect::<Vec<_>>();
    let placed = p.follow(&[b(&[10001, 10003]), b(&[10001, 10002])]);
    assert_eq!(placed, vec![b(&[10001, 10002]), b(&[10001, 10002])]);
    let counts: Vec<usize> = p.slots.iter().map(|s| s.tablets).collect();
    assert_eq!(counts, vec![11, 2, 5]);
}

#[test]
fn replicas_of_a_tablet_go_to_distinct_backends_balancing_the_counts() {
    let mut p = Placer {
        slots: vec![
            slot(10001, 0, 0),
            slot(10002, 0, 0),
            slot(10003, 2, 0),
            slot(10004, 0, 500),
        ],
    };
    let placed = p.take_replicas(4, 3);
    for copies in &placed {
        let mut distinct = copies.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "{copies:?}");
    }
    // 12 replicas over 4 backends that held 2 tablets: 14 in all, 3 or 4 each.
    let counts: Vec<usize> = p.slots.iter().map(|s| s.tablets).collect();
    assert_eq!(counts.iter().sum::<usize>(), 14);
    assert!(counts.iter().all(|&c| (3..=4).contains(&c)), "{counts:?}");
    // More copies than backends: one on each.
    assert_eq!(p.take_replicas(1, 5)[0].len(), 4);
    assert_eq!(p.live(), 4);
}

#[test]
fn placer_without_backends_is_the_embedded_one() {
    let mut p = Placer { slots: Vec::new() };
    assert_eq!(p.pick(), rigel_common::ids::EMBEDDED_BACKEND);
}

#[test]
fn disk_used_permille() {
    let status = |total, available| BackendStatus {
        disk_total_bytes: total,
        disk_available_bytes: available,
        ..BackendStatus::default()
    };
    assert_eq!(status(0, 0).disk_used_permille(), 0);
    assert_eq!(status(1000, 1000).disk_used_permille(), 0);
    assert_eq!(status(1000, 250).disk_used_permille(), 750);
    assert_eq!(status(1000, 0).disk_used_permille(), 1000);
    // More available than total (a report in flight): empty, not an overflow.
    assert_eq!(status(1000, 5000).disk_used_permille(), 0);
    assert_eq!(status(u64::MAX, 0).disk_used_permille(), 1000);
}

#[test]
fn a_managed_cluster_without_backends_cannot_place() {
    let cluster = Cluster::managed();
    assert!(!cluster.is_embedded());
    let err = cluster.placer(&HashMap::new()).unwrap_err();
    assert_eq!(err.code, ErrorCode::ER_BACKEND_UNAVAILABLE);
    assert!(err.message.contains("ALTER SYSTEM ADD BACKEND"), "{err:?}");
    assert!(cluster.next_http_backend().is_none());
    assert!(cluster.backend(BackendId(10001)).is_err());
}

/// A backend's heartbeat service: answers as `answers_as`, with a fixed disk.
struct FakeBackend {
    answers_as: u64,
    disk_available: u64,
    http_port: u32,
    calls: AtomicU64,
}

#[async_trait]
impl HeartbeatHandler for FakeBackend {
    async fn heartbeat(
        &self,
        _request: pb::HeartbeatRequest,
    ) -> rigel_be_api::Result<pb::HeartbeatResponse> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(pb::HeartbeatResponse {
            backend_id: self.answers_as,
            be_port: 9060,
            http_port: self.http_port,
            brpc_port: 8060,
            version: "test".into(),
            started_ms: 1_700_000_000_000,
            tablets: 7,
            data_used_bytes: 1024,
            disk_total_bytes: 1000,
            disk_available_bytes: self.disk_available,
            mem_limit_bytes: 1 << 30,
            cpu_cores: 2,
            running_queries: 0,
            mem_used_bytes: 1 << 20,
        })
    }
}

/// A heartbeat service on a loopback port, until dropped or stopped.
struct Served {
    port: u16,
    handler: Arc<FakeBackend>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn start(answers_as: u64, disk_available: u64, http_port: u32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handler = Arc::new(FakeBackend {
            answers_as,
            disk_available,
            http_port,
            calls: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let routes = rigel_rpc::server::heartbeat_routes(handler.clone());
        let task = tokio::spawn(async move {
            let shutdown = Box::pin(async move {
                let _ = stopped.await;
            });
            rigel_rpc::server::serve("heartbeat", listener, routes, shutdown)
                .await
                .unwrap();
        });
        Self {
            port,
            handler,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    fn target(&self, id: u64) -> HeartbeatTarget {
        HeartbeatTarget {
            id: BackendId(id),
            host: "127.0.0.1".into(),
            port: self.port,
        }
    }
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

const TIMEOUT: Duration = Duration::from_secs(5);
const NEVER_DEAD: i64 = i64::MAX;

async fn round(
    cluster: &Cluster,
    targets: &[HeartbeatTarget],
    dead_after_ms: i64,
) -> HeartbeatChanges {
    cluster
        .heartbeat(
            targets.to_vec(),
            pb::HeartbeatRequest::default(),
            TIMEOUT,
            dead_after_ms,
        )
        .await
}

fn status_of(cluster: &Cluster, id: u64) -> BackendStatus {
    cluster
        .statuses()
        .into_iter()
        .find(|(b, _)| *b == BackendId(id))
        .map(|(_, s)| s)
        .expect("a status for the backend")
}

#[tokio::test]
async fn a_backend_joins_once_and_reports_its_state() {
    let be = Served::start(10001, 400, 8040).await;
    let cluster = Cluster::managed();
    let targets = [be.target(10001)];

    let first = round(&cluster, &targets, NEVER_DEAD).await;
    assert_eq!(first.joined, vec![BackendId(10001)]);
    assert!(first.lost.is_empty());
    let s = status_of(&cluster, 10001);
    assert!(s.alive);
    assert!(s.err_msg.is_empty());
    assert_eq!((s.be_port, s.http_port, s.brpc_port), (9060, 8040, 8060));
    assert_eq!((s.tablets, s.version.as_str()), (7, "test"));
    assert_eq!(s.disk_used_permille(), 600);
    assert!(s.last_heartbeat_ms > 0);
    assert!(cluster.is_alive(BackendId(10001)));
    assert_eq!(
        cluster.member(BackendId(10001)).unwrap().data_address,
        "127.0.0.1:8060"
    );

    // The same backend again: no new join.
    let second = round(&cluster, &targets, NEVER_DEAD).await;
    assert!(second.joined.is_empty() && second.lost.is_empty());
    assert_eq!(be.handler.calls.load(Ordering::Relaxed), 2);
    be.stop().await;
}

#[tokio::test]
async fn a_stopped_backend_is_lost_with_an_error_naming_it() {
    let be = Served::start(10001, 500, 8040).await;
    let cluster = Cluster::managed();
    let targets = [be.target(10001)];
    round(&cluster, &targets, NEVER_DEAD).await;
    be.stop().await;

    let changes = round(&cluster, &targets, 0).await;
    assert_eq!(changes.lost, vec![BackendId(10001)]);
    let s = status_of(&cluster, 10001);
    assert!(!s.alive);
    assert!(!s.err_msg.is_empty());
    assert!(!cluster.is_alive(BackendId(10001)));
    assert!(cluster.live_members().is_empty());
    // Lost once, not every round.
    assert!(round(&cluster, &targets, 0).await.lost.is_empty());
}

#[tokio::test]
async fn a_missed_heartbeat_is_alive_until_the_timeout() {
    let be = Served::start(10001, 500, 8040).await;
    let cluster = Cluster::managed();
    let targets = [be.target(10001)];
    round(&cluster, &targets, NEVER_DEAD).await;
    be.stop().await;

    let changes = round(&cluster, &targets, NEVER_DEAD).await;
    assert!(changes.lost.is_empty());
    let s = status_of(&cluster, 10001);
    assert!(s.alive, "alive until heartbeat_timeout_second has passed");
    assert!(!s.err_msg.is_empty(), "the failed heartbeat is reported");
}

#[tokio::test]
async fn a_backend_that_never_answered_is_not_alive() {
    let cluster = Cluster::managed();
    let target = HeartbeatTarget {
        id: BackendId(10001),
        host: "127.0.0.1".into(),
        port: closed_port().await,
    };
    let changes = round(&cluster, &[target], NEVER_DEAD).await;
    assert!(changes.joined.is_empty() && changes.lost.is_empty());
    let s = status_of(&cluster, 10001);
    assert!(!s.alive);
    assert_eq!(s.last_heartbeat_ms, 0);
    assert!(!s.err_msg.is_empty());
    let err = cluster.backend(BackendId(10001)).unwrap_err();
    assert_eq!(err.code, ErrorCode::ER_BACKEND_UNAVAILABLE);
    assert!(err.message.contains("10001"), "{err:?}");
}

#[tokio::test]
async fn a_backend_answering_as_another_is_refused() {
    let be = Served::start(20002, 500, 8040).await;
    let cluster = Cluster::managed();
    let changes = round(&cluster, &[be.target(10001)], NEVER_DEAD).await;
    assert!(changes.joined.is_empty());
    let s = status_of(&cluster, 10001);
    assert!(!s.alive);
    assert!(s.err_msg.contains("20002"), "{}", s.err_msg);
    assert!(cluster.members().is_empty());
    be.stop().await;
}

#[tokio::test]
async fn dropped_backends_leave_the_cluster() {
    let a = Served::start(10001, 500, 8040).await;
    let b = Served::start(10002, 500, 8041).await;
    let cluster = Cluster::managed();
    round(&cluster, &[a.target(10001), b.target(10002)], NEVER_DEAD).await;
    assert_eq!(cluster.members().len(), 2);

    round(&cluster, &[b.target(10002)], NEVER_DEAD).await;
    let ids: Vec<BackendId> = cluster.statuses().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, vec![BackendId(10002)]);
    assert_eq!(cluster.members().len(), 1);
    assert!(cluster.backend(BackendId(10001)).is_err());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn loads_and_tablets_go_to_live_backends() {
    let a = Served::start(10001, 100, 8040).await; // 90% full
    let b = Served::start(10002, 900, 8041).await; // 10% full
    let cluster = Cluster::managed();
    let targets = [a.target(10001), b.target(10002)];
    round(&cluster, &targets, NEVER_DEAD).await;

    // Stream Loads take the live backends in turn.
    let mut seen: Vec<String> = (0..4).filter_map(|_| cluster.next_http_backend()).collect();
    assert_eq!(seen.len(), 4);
    assert_ne!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
    seen.sort();
    seen.dedup();
    assert_eq!(seen, vec!["127.0.0.1:8040", "127.0.0.1:8041"]);

    // Equal tablet counts: the emptier disk takes the first tablet.
    let mut placer = cluster.placer(&HashMap::new()).unwrap();
    assert_eq!(placer.pick(), BackendId(10002));
    assert_eq!(placer.pick(), BackendId(10001));
    // Counts from the catalog come first.
    let placed = HashMap::from([(BackendId(10002), 5)]);
    let mut placer = cluster.placer(&placed).unwrap();
    assert_eq!(placer.take(3), vec![BackendId(10001); 3]);

    // A dead backend takes neither.
    a.stop().await;
    round(&cluster, &targets, 0).await;
    assert_eq!(
        cluster.next_http_backend().as_deref(),
        Some("127.0.0.1:8041")
    );
    let mut placer = cluster.placer(&HashMap::new()).unwrap();
    assert_eq!(placer.take(2), vec![BackendId(10002); 2]);
    b.stop().await;
}

#[tokio::test]
async fn the_embedded_backend_answers_in_process() {
    let local = Arc::new(FakeBackend {
        answers_as: 10001,
        disk_available: 500,
        http_port: 0,
        calls: AtomicU64::new(0),
    });
    let port = closed_port().await;
    let addr = format!("127.0.0.1:{port}");
    let client: Arc<dyn Backend> =
        Arc::new(RpcBackend::connect(BackendId(10001), &addr, &addr).unwrap());
    let cluster = Cluster::embedded(BackendId(10001), client, local.clone());
    assert!(cluster.is_embedded());
    assert!(cluster.is_alive(BackendId(10001)));

    // Targets are ignored: the backend of this process is the whole cluster.
    let changes = round(&cluster, &[], 0).await;
    assert!(changes.joined.is_empty() && changes.lost.is_empty());
    assert_eq!(local.calls.load(Ordering::Relaxed), 1);
    let s = status_of(&cluster, 10001);
    assert!(s.alive);
    assert_eq!(s.tablets, 7);
    let mut placer = cluster.placer(&HashMap::new()).unwrap();
    assert_eq!(placer.take(2), vec![BackendId(10001); 2]);
    assert!(cluster.backend(BackendId(10001)).is_ok());
}
