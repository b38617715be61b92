use super::*;

fn less_than(name: &str, v: Option<&str>) -> RangePartitionDef {
    RangePartitionDef::LessThan {
        if_not_exists: false,
        name: name.into(),
        upper: v.map(|v| vec![v.to_string()]),
        properties: vec![],
    }
}

#[test]
fn live_number_retires_the_oldest_started_partitions() {
    let part = |id: u64, lower: Option<&str>, upper: &str| Partition {
        id: PartitionId(id),
        name: format!("p{id}"),
        lower: lower.map(|l| vec![l.to_string()]),
        upper: Some(vec![upper.to_string()]),
        values: None,
        tablets: vec![],
        replicas: vec![],
        visible_version: 1,
        visible_version_time_ms: 0,
        created_ms: 0,
    };
    // Out of order on purpose; p5 is in the future.
    let parts = vec![
        part(3, Some("2024-01-03"), "2024-01-04"),
        part(1, None, "2024-01-02"),
        part(5, Some("2024-01-10"), "2024-01-11"),
        part(2, Some("2024-01-02"), "2024-01-03"),
        part(4, Some("2024-01-04"), "2024-01-05"),
    ];
    let now = NaiveDate::from_ymd_opt(2024, 1, 4)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .unwrap();
    let ids = |v: Vec<PartitionId>| v.into_iter().map(|p| p.0).collect::<Vec<_>>();
    let types = [ColumnType::Date];
    assert_eq!(
        ids(expired_partitions(&parts, &types, 2, now).unwrap()),
        vec![1, 2]
    );
    assert_eq!(
        ids(expired_partitions(&parts, &types, 4, now).unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        ids(expired_partitions(&parts, &types, 0, now).unwrap()),
        vec![1, 2, 3, 4]
    );
    // Integer ranges: every partition counts.
    let ints = vec![part(7, Some("10"), "20"), part(6, None, "10")];
    let ids_int = expired_partitions(&ints, &[ColumnType::Int], 1, now).unwrap();
    assert_eq!(ids(ids_int), vec![6]);
}

#[test]
fn less_than_chain() {
    let parts = expand_range_partitions(
        &[
            less_than("p1", Some("2021-01-02")),
            less_than("p2", Some("2021-01-05")),
            less_than("pmax", None),
        ],
        &[ColumnType::Date],
        &[],
    )
    .unwrap();
    assert_eq!(parts[0].lower, None);
    assert_eq!(parts[1].lower, Some(vec!["2021-01-02".to_string()]));
    assert_eq!(parts[2].lower, Some(vec!["2021-01-05".to_string()]));
    assert_eq!(parts[2].upper, None);
}

#[test]
fn overlaps_and_duplicates_are_rejected() {
    let fixed = |n: &str, a: &str, b: &str| RangePartitionDef::Fixed {
        if_not_exists: false,
        name: n.into(),
        lower: vec![a.into()],
        upper: vec![b.into()],
        properties: vec![],
    };
    assert!(
        expand_range_partitions(
            &[fixed("a", "1", "10"), fixed("b", "5", "20")],
            &[ColumnType::Int],
            &[]
        )
        .is_err()
    );
    assert!(
        expand_range_partitions(
            &[fixed("a", "1", "10"), fixed("a", "10", "20")],
            &[ColumnType::Int],
            &[]
        )
        .is_err()
    );
    assert!(expand_range_partitions(&[fixed("a", "10", "1")], &[ColumnType::Int], &[]).is_err());
}

#[test]
fn batch_days_and_ints() {
    let parts = expand_range_partitions(
        &[RangePartitionDef::Batch {
            start: "2021-01-30".into(),
            end: "2021-02-02".into(),
            every: 1,
            unit: Some("day".into()),
        }],
        &[ColumnType::Datetime],
        &[],
    )
    .unwrap();
    let names: Vec<_> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["p20210130", "p20210131", "p20210201"]);
    assert_eq!(
        parts[0].lower,
        Some(vec!["2021-01-30 00:00:00".to_string()])
    );
    let parts = expand_range_partitions(
        &[RangePartitionDef::Batch {
            start: "1".into(),
            end: "10".into(),
            every: 4,
            unit: None,
        }],
        &[ColumnType::BigInt],
        &[],
    )
    .unwrap();
    let names: Vec<_> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["p1", "p5", "p9"]);
    assert_eq!(parts[2].upper, Some(vec!["10".to_string()]));
}
