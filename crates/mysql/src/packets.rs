//! Packet payloads the server writes: OK, ERR, EOF and column definitions.

use datafusion::arrow::datatypes::Field;
use mysql_common::constants::{CapabilityFlags, ColumnFlags, ColumnType, StatusFlags};
use mysql_common::io::BufMutExt;
use mysql_common::packets::Column;
use mysql_common::proto::MySerialize;
use rigel_common::SqlError;

use crate::rows::mysql_column_type;

/// utf8mb4_general_ci
pub const UTF8MB4_GENERAL_CI: u16 = 45;
/// binary
pub const BINARY_COLLATION: u16 = 63;

/// OK packet payload.
pub fn ok_packet(
    header: u8,
    affected_rows: u64,
    last_insert_id: u64,
    status: StatusFlags,
    warnings: u16,
    info: &str,
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(16 + info.len());
    buf.push(header);
    buf.put_lenenc_int(affected_rows);
    buf.put_lenenc_int(last_insert_id);
    buf.extend_from_slice(&status.bits().to_le_bytes());
    buf.extend_from_slice(&warnings.to_le_bytes());
    // MySQL's net_send_ok stores the message length-encoded; clients (libmariadb) read it
    // that way whether or not session tracking was negotiated.
    if !info.is_empty() {
        buf.put_lenenc_str(info.as_bytes());
    }
    buf
}

/// ERR packet payload.
pub fn err_packet(error: &SqlError) -> Vec<u8> {
    let mut buf = Vec::with_capacity(9 + error.message.len());
    buf.push(0xFF);
    buf.extend_from_slice(&error.code.errno.to_le_bytes());
    buf.push(b'#');
    let state = error.code.sqlstate.as_bytes();
    buf.extend_from_slice(&state[..5.min(state.len())]);
    // Messages are capped so a huge error never exceeds a packet.
    let msg = error.message.as_bytes();
    buf.extend_from_slice(&msg[..msg.len().min(16 * 1024)]);
    buf
}

/// EOF packet payload (pre-`CLIENT_DEPRECATE_EOF` clients).
pub fn eof_packet(status: StatusFlags, warnings: u16) -> Vec<u8> {
    let mut buf = Vec::with_capacity(5);
    buf.push(0xFE);
    buf.extend_from_slice(&warnings.to_le_bytes());
    buf.extend_from_slice(&status.bits().to_le_bytes());
    buf
}

/// Column definition payload for an Arrow field.
pub fn column_definition(field: &Field, schema: &str, table: &str) -> Vec<u8> {
    let info = mysql_column_type(field);
    let mut flags = ColumnFlags::empty();
    if !field.is_nullable() {
        flags |= ColumnFlags::NOT_NULL_FLAG;
    }
    if info.unsigned {
        flags |= ColumnFlags::UNSIGNED_FLAG;
    }
    if info.binary {
        flags |= ColumnFlags::BINARY_FLAG;
    }
    if matches!(
        info.column_type,
        ColumnType::MYSQL_TYPE_BLOB | ColumnType::MYSQL_TYPE_JSON
    ) {
        flags |= ColumnFlags::BLOB_FLAG;
    }
    let charset = if info.binary || info.numeric {
        BINARY_COLLATION
    } else {
        UTF8MB4_GENERAL_CI
    };
    let col = Column::new(info.column_type)
        .with_schema(schema.as_bytes())
        .with_table(table.as_bytes())
        .with_org_table(table.as_bytes())
        .with_name(field.name().as_bytes())
        .with_org_name(field.name().as_bytes())
        .with_flags(flags)
        .with_column_length(info.length)
        .with_character_set(charset)
        .with_decimals(info.decimals);
    let mut buf = Vec::with_capacity(64);
    col.serialize(&mut buf);
    buf
}

/// The capabilities this server offers.
pub fn server_capabilities() -> CapabilityFlags {
    CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_FOUND_ROWS
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_COMPRESS
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_INTERACTIVE
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_CONNECT_ATTRS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_DEPRECATE_EOF
}

#[cfg(test)]
mod tests {
    use super::*;
    use rigel_common::ErrorCode;

    #[test]
    fn err_packet_layout() {
        let p = err_packet(&SqlError::new(
            ErrorCode::ER_BAD_DB_ERROR,
            "Unknown database 'x'",
        ));
        assert_eq!(p[0], 0xFF);
        assert_eq!(u16::from_le_bytes([p[1], p[2]]), 1049);
        assert_eq!(&p[3..9], b"#42000");
        assert_eq!(&p[9..], b"Unknown database 'x'");
    }

    #[test]
    fn ok_packet_layout() {
        let p = ok_packet(0, 300, 0, StatusFlags::SERVER_STATUS_AUTOCOMMIT, 1, "");
        assert_eq!(p, vec![0, 0xFC, 44, 1, 0, 2, 0, 1, 0]);
    }
}
