//! The health of a tablet's replicas, from the catalog (where they are, which lack a
//! version) and what the backends report (which replicas they hold): what
//! `information_schema.tablet_health`, `ADMIN SHOW REPLICA STATUS` and `SHOW PROC
//! '/statistic'` show, and what repair starts from.

use std::collections::HashMap;

use rigel_common::ids::{BackendId, TabletId};

use crate::model::{Partition, Replica};

/// The replicas the live backends report holding, with each one's newest version.
pub type Reports = HashMap<(TabletId, BackendId), u64>;

/// The state of a tablet (StarRocks' names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TabletHealth {
    /// As many replicas as `replication_num`, all held and complete.
    Healthy,
    /// Fewer held replicas than `replication_num` (a backend is down or lost it, or
    /// there were too few backends to place them).
    ReplicaMissing,
    /// Enough replicas, some lacking a committed version.
    VersionIncomplete,
    /// More replicas than `replication_num`.
    Redundant,
    /// No complete replica is held: the tablet cannot be read.
    Missing,
}

impl TabletHealth {
    /// The name the views show.
    pub fn as_str(self) -> &'static str {
        match self {
            TabletHealth::Healthy => "HEALTHY",
            TabletHealth::ReplicaMissing => "REPLICA_MISSING",
            TabletHealth::VersionIncomplete => "VERSION_INCOMPLETE",
            TabletHealth::Redundant => "REDUNDANT",
            TabletHealth::Missing => "MISSING",
        }
    }
}

/// The state of one replica: `OK`, `MISSING` (its backend does not report it: down, or
/// lost) or `VERSION_ERROR` (it lacks a committed version).
pub fn replica_status(tablet: TabletId, replica: &Replica, reports: &Reports) -> &'static str {
    if !reports.contains_key(&(tablet, replica.backend)) {
        "MISSING"
    } else if !replica.is_complete() {
        "VERSION_ERROR"
    } else {
        "OK"
    }
}

impl Partition {
    /// The health of the tablet of `bucket`, which should have `replication_num` replicas.
    pub fn tablet_health(
        &self,
        bucket: usize,
        replication_num: usize,
        reports: &Reports,
    ) -> TabletHealth {
        let Some(&tablet) = self.tablets.get(bucket) else {
            return TabletHealth::Missing;
        };
        let held: Vec<Replica> = self
            .replicas_of(bucket)
            .into_iter()
            .filter(|r| reports.contains_key(&(tablet, r.backend)))
            .collect();
        if !held.iter().any(Replica::is_complete) {
            TabletHealth::Missing
        } else if held.len() < replication_num {
            TabletHealth::ReplicaMissing
        } else if held.iter().any(|r| !r.is_complete()) {
            TabletHealth::VersionIncomplete
        } else if held.len() > replication_num {
            TabletHealth::Redundant
        } else {
            TabletHealth::Healthy
        }
    }
}

#[cfg(test)]
mod tests {
    use rigel_common::ids::PartitionId;

    use super::*;

    fn partition(replicas: &[&[u64]]) -> Partition {
        let mut p = Partition {
            id: PartitionId(1),
            name: "p".into(),
            lower: None,
            upper: None,
            values: None,
            tablets: (0..replicas.len() as u64)
                .map(|i| TabletId(10 + i))
                .collect(),
            replicas: vec![],
            visible_version: 3,
            visible_version_time_ms: 0,
            created_ms: 0,
        };
        p.place(
            &replicas
                .iter()
                .map(|r| r.iter().map(|&b| BackendId(b)).collect())
                .collect::<Vec<_>>(),
        );
        p
    }

    fn reported(pairs: &[(u64, u64)]) -> Reports {
        pairs
            .iter()
            .map(|&(t, b)| ((TabletId(t), BackendId(b)), 3))
            .collect()
    }

    #[test]
    fn tablets_are_classified_from_their_replicas_and_the_reports() {
        let mut p = partition(&[&[1, 2, 3], &[1, 2], &[1, 2, 3, 4]]);
        let all = reported(&[
            (10, 1),
            (10, 2),
            (10, 3),
            (11, 1),
            (11, 2),
            (12, 1),
            (12, 2),
            (12, 3),
            (12, 4),
        ]);
        assert_eq!(p.tablet_health(0, 3, &all), TabletHealth::Healthy);
        assert_eq!(p.tablet_health(1, 3, &all), TabletHealth::ReplicaMissing);
        assert_eq!(p.tablet_health(2, 3, &all), TabletHealth::Redundant);
        // Backend 3 went away: its replica is missing.
        let without_3: Reports = all
            .iter()
            .filter(|((_, b), _)| *b != BackendId(3))
            .map(|(k, v)| (*k, *v))
            .collect();
        assert_eq!(
            p.tablet_health(0, 3, &without_3),
            TabletHealth::ReplicaMissing
        );
        assert_eq!(
            replica_status(TabletId(10), &p.replicas_of(0)[2], &without_3),
            "MISSING"
        );
        // A replica that lacks a version.
        p.replicas[0][1].missing_from = Some(3);
        assert_eq!(p.tablet_health(0, 3, &all), TabletHealth::VersionIncomplete);
        assert_eq!(
            replica_status(TabletId(10), &p.replicas_of(0)[1], &all),
            "VERSION_ERROR"
        );
        // No complete replica held: unreadable.
        let only_2 = reported(&[(10, 2)]);
        assert_eq!(p.tablet_health(0, 3, &only_2), TabletHealth::Missing);
        assert_eq!(
            p.tablet_health(0, 3, &Reports::new()),
            TabletHealth::Missing
        );
    }
}
