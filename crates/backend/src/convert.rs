//! Between the interface's values and the storage engine's.

use rigel_be_api as api;

/// The storage form of a tablet's metadata.
pub(crate) fn tablet_meta(m: &api::TabletMeta) -> rigel_storage::TabletMeta {
    rigel_storage::TabletMeta {
        tablet_id: m.tablet_id,
        table_id: m.table_id,
        partition_id: m.partition_id,
        created_ms: m.created_ms,
        primary_key: m.primary_key.clone(),
        persistent_index: m.persistent_index,
    }
}

/// The interface form of a tablet's metadata.
pub(crate) fn api_tablet_meta(m: &rigel_storage::TabletMeta) -> api::TabletMeta {
    api::TabletMeta {
        tablet_id: m.tablet_id,
        table_id: m.table_id,
        partition_id: m.partition_id,
        created_ms: m.created_ms,
        primary_key: m.primary_key.clone(),
        persistent_index: m.persistent_index,
    }
}

/// The interface form of a tablet's summary.
pub(crate) fn tablet_info(i: &rigel_storage::TabletInfo) -> api::TabletInfo {
    api::TabletInfo {
        meta: api_tablet_meta(&i.meta),
        rowsets: i.rowsets,
        rows: i.rows,
        bytes: i.bytes,
        max_version: i.max_version,
    }
}
