//! One client connection: handshake, authentication and the command loop.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::BytesMut;
use futures::{FutureExt, StreamExt};
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthPlugin, HandshakePacket, HandshakeResponse};
use mysql_common::proto::MyDeserialize;
use mysql_common::proto::codec::PacketCodec;
use mysql_common::proto::codec::error::PacketCodecError;
use rand::RngExt;
use rigel_common::{ErrorCode, SqlError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{debug, error, warn};

use crate::packets::{
    UTF8MB4_GENERAL_CI, column_definition, eof_packet, err_packet, ok_packet, server_capabilities,
};
use crate::params::{BoundTypes, decode_params};
use crate::rows::{TextRowWriter, write_binary_row};
use crate::server::ServerOptions;
use crate::{LoginRequest, MysqlHandler, MysqlSession, QueryResult};

const NATIVE_PASSWORD: &[u8] = b"mysql_native_password";
/// Output is flushed to the socket once this much is buffered.
const FLUSH_THRESHOLD: usize = 64 * 1024;

mod cmd {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const STATISTICS: u8 = 0x09;
    pub const PING: u8 = 0x0e;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const SET_OPTION: u8 = 0x1b;
    pub const RESET_CONNECTION: u8 = 0x1f;
}

struct Prepared {
    sql: String,
    params: usize,
    types: BoundTypes,
    long_data: HashMap<u16, Vec<u8>>,
}

/// Packet I/O over any byte stream (plain TCP today, TLS later).
pub struct Conn<S> {
    stream: S,
    codec: PacketCodec,
    rbuf: BytesMut,
    wbuf: BytesMut,
    caps: CapabilityFlags,
}

enum Outcome {
    /// The response is complete; go on with the batch.
    Continue,
    /// An ERR packet ended the response; skip the rest of the batch.
    Stop,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Conn<S> {
    /// The stream (after any bytes read but not yet decoded) and the codec, whose packet
    /// sequence carries on over TLS.
    fn into_parts(self) -> (crate::tls::Prefixed<S>, (PacketCodec, CapabilityFlags)) {
        (
            crate::tls::Prefixed::new(self.rbuf, self.stream),
            (self.codec, self.caps),
        )
    }

    fn from_parts(stream: S, (codec, caps): (PacketCodec, CapabilityFlags)) -> Self {
        Self {
            stream,
            codec,
            rbuf: BytesMut::with_capacity(16 * 1024),
            wbuf: BytesMut::with_capacity(16 * 1024),
            caps,
        }
    }

    fn new(stream: S, max_allowed_packet: usize) -> Self {
        let mut codec = PacketCodec::default();
        codec.max_allowed_packet = max_allowed_packet;
        Self {
            stream,
            codec,
            rbuf: BytesMut::with_capacity(16 * 1024),
            wbuf: BytesMut::with_capacity(16 * 1024),
            caps: server_capabilities(),
        }
    }

    /// Reads one packet; `None` when the client closed the connection.
    async fn read_packet(&mut self) -> Result<Option<Vec<u8>>, PacketCodecError> {
        let mut payload = Vec::new();
        loop {
            if self.codec.decode(&mut self.rbuf, &mut payload)? {
                return Ok(Some(payload));
            }
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            if n == 0 {
                if self.rbuf.is_empty() {
                    return Ok(None);
                }
                return Err(PacketCodecError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed mid-packet",
                )));
            }
        }
    }

    fn push(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut src: &[u8] = payload;
        self.codec
            .encode(&mut src, &mut self.wbuf)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        self.stream.flush().await
    }

    async fn maybe_flush(&mut self) -> io::Result<()> {
        if self.wbuf.len() >= FLUSH_THRESHOLD {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    fn deprecate_eof(&self) -> bool {
        self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    }

    fn push_ok(
        &mut self,
        affected: u64,
        last_id: u64,
        status: StatusFlags,
        warnings: u16,
        info: &str,
    ) -> io::Result<()> {
        self.push(&ok_packet(0x00, affected, last_id, status, warnings, info))
    }

    fn push_err(&mut self, e: &SqlError) -> io::Result<()> {
        self.push(&err_packet(e))
    }

    /// The end of a column-definition block or result set: EOF, or OK (0xFE) for clients
    /// with `CLIENT_DEPRECATE_EOF`.
    fn push_terminator(
        &mut self,
        status: StatusFlags,
        warnings: u16,
        end_of_rows: bool,
    ) -> io::Result<()> {
        if self.deprecate_eof() {
            if end_of_rows {
                self.push(&ok_packet(0xFE, 0, 0, status, warnings, ""))?;
            }
            Ok(())
        } else {
            self.push(&eof_packet(status, warnings))
        }
    }
}

fn status(more: bool) -> StatusFlags {
    let mut s = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
    if more {
        s |= StatusFlags::SERVER_MORE_RESULTS_EXISTS;
    }
    s
}

fn random_scramble() -> [u8; 20] {
    let mut rng = rand::rng();
    let mut s = [0u8; 20];
    for b in &mut s {
        // Printable ASCII without '$', as MySQL does.
        loop {
            let c: u8 = rng.random_range(0x21..0x7f);
            if c != b'$' {
                *b = c;
                break;
            }
        }
    }
    s
}

fn panic_error(what: &str) -> SqlError {
    SqlError::internal(format!("{what} panicked"))
}

/// Serves one connection until it ends: greeting, an optional switch to TLS, login, then
/// commands.
pub async fn serve_connection<H, S>(
    handler: Arc<H>,
    stream: S,
    peer: SocketAddr,
    connection_id: u32,
    options: Arc<ServerOptions>,
) where
    H: MysqlHandler,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut conn = Conn::new(stream, options.max_allowed_packet);
    let tls = options.tls.as_ref().map(|t| t.acceptor());
    if tls.is_some() {
        conn.caps |= CapabilityFlags::CLIENT_SSL;
    }
    let scramble = random_scramble();
    let packet = match greet(&mut conn, connection_id, &scramble, &options).await {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            debug!(%peer, "handshake failed: {e}");
            return;
        }
    };
    match tls {
        Some(acceptor) if is_ssl_request(&packet) => {
            let (stream, codec) = conn.into_parts();
            let stream = match acceptor.accept(stream).await {
                Ok(s) => s,
                Err(e) => {
                    debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
            };
            let mut conn = Conn::from_parts(stream, codec);
            let packet = match conn.read_packet().await {
                Ok(Some(p)) => p,
                _ => return,
            };
            serve_login(&*handler, conn, packet, scramble, peer, connection_id, true).await;
        }
        _ if options.require_secure_transport => {
            let e = SqlError::new(
                ErrorCode::ER_SECURE_TRANSPORT_REQUIRED,
                "Connections using insecure transport are prohibited while --require_secure_transport=ON.",
            );
            if conn.push_err(&e).is_ok() {
                let _ = conn.flush().await;
            }
        }
        _ => {
            serve_login(
                &*handler,
                conn,
                packet,
                scramble,
                peer,
                connection_id,
                false,
            )
            .await
        }
    }
}

/// Whether a handshake response is an SSL request: the client's capabilities with
/// CLIENT_SSL, its packet size and charset, and nothing else (32 bytes).
fn is_ssl_request(packet: &[u8]) -> bool {
    packet.len() == 32
        && packet
            .first_chunk::<4>()
            .map(|c| u32::from_le_bytes(*c))
            .is_some_and(|caps| {
                CapabilityFlags::from_bits_truncate(caps).contains(CapabilityFlags::CLIENT_SSL)
            })
}

async fn serve_login<H, S>(
    handler: &H,
    mut conn: Conn<S>,
    packet: Vec<u8>,
    scramble: [u8; 20],
    peer: SocketAddr,
    connection_id: u32,
    secure: bool,
) where
    H: MysqlHandler,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let session = match login(
        handler,
        &mut conn,
        packet,
        scramble,
        peer,
        connection_id,
        secure,
    )
    .await
    {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            debug!(%peer, "handshake failed: {e}");
            return;
        }
    };
    let mut session = session;
    if let Err(e) = command_loop(&mut conn, &mut session).await {
        debug!(%peer, connection_id, "connection ended: {e}");
    }
    session.close();
}

/// Sends the greeting and reads the client's first packet (its handshake response, or an
/// SSL request).
async fn greet<S: AsyncRead + AsyncWrite + Unpin + Send>(
    conn: &mut Conn<S>,
    connection_id: u32,
    scramble: &[u8; 20],
    options: &ServerOptions,
) -> io::Result<Option<Vec<u8>>> {
    let mut scramble_2 = scramble[8..].to_vec();
    scramble_2.push(0);
    let mut scramble_1 = [0u8; 8];
    scramble_1.copy_from_slice(&scramble[..8]);
    let hs = HandshakePacket::new(
        10,
        options.server_version.as_bytes(),
        connection_id,
        scramble_1,
        Some(scramble_2),
        conn.caps,
        UTF8MB4_GENERAL_CI as u8,
        StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        Some(NATIVE_PASSWORD),
    );
    let mut payload = Vec::new();
    mysql_common::proto::MySerialize::serialize(&hs, &mut payload);
    conn.push(&payload)?;
    conn.flush().await?;

    match conn.read_packet().await {
        Ok(p) => Ok(p),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

/// Checks the handshake response and logs the user in.
async fn login<H: MysqlHandler, S: AsyncRead + AsyncWrite + Unpin + Send>(
    handler: &H,
    conn: &mut Conn<S>,
    packet: Vec<u8>,
    scramble: [u8; 20],
    peer: SocketAddr,
    connection_id: u32,
    secure: bool,
) -> io::Result<Option<H::Session>> {
    let response = match HandshakeResponse::deserialize((), &mut ParseBuf(&packet)) {
        Ok(r) => r,
        Err(e) => {
            let err = SqlError::new(ErrorCode::ER_NET_READ_ERROR, format!("Bad handshake: {e}"));
            conn.push_err(&err)?;
            conn.flush().await?;
            return Ok(None);
        }
    };
    let client_caps = response.capabilities();
    conn.caps &= client_caps;
    let user = String::from_utf8_lossy(response.user()).into_owned();
    let database = response
        .db_name()
        .filter(|d| !d.is_empty())
        .map(|d| String::from_utf8_lossy(d).into_owned());
    let mut auth_response = response.scramble_buf().to_vec();
    let plugin_ok = match response.auth_plugin() {
        None => true,
        Some(p) => matches!(p, AuthPlugin::MysqlNativePassword),
    };
    if !plugin_ok && client_caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) {
        // Ask the client to answer the scramble with mysql_native_password.
        let mut switch = vec![0xFE];
        switch.extend_from_slice(NATIVE_PASSWORD);
        switch.push(0);
        switch.extend_from_slice(&scramble);
        switch.push(0);
        conn.push(&switch)?;
        conn.flush().await?;
        auth_response = match conn.read_packet().await {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(None),
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
    }
    let request = LoginRequest {
        connection_id,
        user,
        peer,
        scramble,
        auth_response,
        database,
        secure,
    };
    let result = AssertUnwindSafe(handler.login(request))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(panic_error("login")));
    match result {
        Ok(session) => {
            conn.push_ok(0, 0, status(false), 0, "")?;
            conn.flush().await?;
            if conn.caps.contains(CapabilityFlags::CLIENT_COMPRESS) {
                conn.codec.compress(flate2::Compression::default());
            }
            Ok(Some(session))
        }
        Err(e) => {
            conn.push_err(&e)?;
            conn.flush().await?;
            Ok(None)
        }
    }
}

async fn command_loop<S: AsyncRead + AsyncWrite + Unpin + Send, Sess: MysqlSession>(
    conn: &mut Conn<S>,
    session: &mut Sess,
) -> io::Result<()> {
    let mut statements: HashMap<u32, Prepared> = HashMap::new();
    let mut next_stmt_id = 1u32;
    loop {
        conn.codec.reset_seq_id();
        let read = tokio::select! {
            r = conn.read_packet() => r,
            _ = session.killed() => return Ok(()),
        };
        let packet = match read {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(()),
            Err(PacketCodecError::PacketTooLarge) => {
                let e = SqlError::new(
                    ErrorCode::ER_NET_PACKET_TOO_LARGE,
                    "Got a packet bigger than 'max_allowed_packet' bytes",
                );
                conn.push_err(&e)?;
                conn.flush().await?;
                return Ok(());
            }
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
        let Some((&command, body)) = packet.split_first() else {
            conn.push_err(&SqlError::new(
                ErrorCode::ER_UNKNOWN_COM_ERROR,
                "Empty command packet",
            ))?;
            conn.flush().await?;
            continue;
        };
        match command {
            cmd::QUIT => return Ok(()),
            cmd::PING => conn.push_ok(0, 0, status(false), 0, "")?,
            cmd::INIT_DB => {
                let db = String::from_utf8_lossy(body).into_owned();
                let r = AssertUnwindSafe(session.use_database(&db))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(panic_error("COM_INIT_DB")));
                match r {
                    Ok(()) => conn.push_ok(0, 0, status(false), 0, "")?,
                    Err(e) => conn.push_err(&e)?,
                }
            }
            cmd::QUERY => {
                let sql = String::from_utf8_lossy(body).into_owned();
                run_query(conn, session, &sql).await?;
            }
            cmd::FIELD_LIST => {
                let table = body.split(|&b| b == 0).next().unwrap_or_default();
                let table = String::from_utf8_lossy(table).into_owned();
                let r = AssertUnwindSafe(session.field_list(&table))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(panic_error("COM_FIELD_LIST")));
                match r {
                    Ok(schema) => {
                        for f in schema.fields() {
                            conn.push(&column_definition(f, "", &table))?;
                        }
                        conn.push_terminator(status(false), 0, true)?;
                    }
                    Err(e) => conn.push_err(&e)?,
                }
            }
            cmd::STATISTICS => {
                let text = session.statistics();
                conn.push(text.as_bytes())?;
            }
            cmd::RESET_CONNECTION => {
                session.reset();
                statements.clear();
                conn.push_ok(0, 0, status(false), 0, "")?;
            }
            cmd::SET_OPTION => {
                conn.push(&eof_packet(status(false), 0))?;
            }
            cmd::STMT_PREPARE => {
                let sql = String::from_utf8_lossy(body).into_owned();
                let r = AssertUnwindSafe(session.prepare(&sql))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(panic_error("COM_STMT_PREPARE")));
                match r {
                    Ok(info) => {
                        let id = next_stmt_id;
                        next_stmt_id = next_stmt_id.wrapping_add(1).max(1);
                        let columns = info.columns.clone();
                        let ncols = columns.as_ref().map(|s| s.fields().len()).unwrap_or(0);
                        let mut p = vec![0x00];
                        p.extend_from_slice(&id.to_le_bytes());
                        p.extend_from_slice(&(ncols as u16).to_le_bytes());
                        p.extend_from_slice(&(info.params as u16).to_le_bytes());
                        p.push(0);
                        p.extend_from_slice(&0u16.to_le_bytes());
                        conn.push(&p)?;
                        if info.params > 0 {
                            let param = datafusion::arrow::datatypes::Field::new(
                                "?",
                                datafusion::arrow::datatypes::DataType::Utf8,
                                true,
                            );
                            for _ in 0..info.params {
                                conn.push(&column_definition(&param, "", ""))?;
                            }
                            conn.push_terminator(status(false), 0, false)?;
                        }
                        if let Some(schema) = columns.filter(|_| ncols > 0) {
                            for f in schema.fields() {
                                conn.push(&column_definition(f, "", ""))?;
                            }
                            conn.push_terminator(status(false), 0, false)?;
                        }
                        statements.insert(
                            id,
                            Prepared {
                                sql,
                                params: info.params,
                                types: vec![],
                                long_data: HashMap::new(),
                            },
                        );
                    }
                    Err(e) => conn.push_err(&e)?,
                }
            }
            cmd::STMT_EXECUTE => {
                if body.len() < 9 {
                    conn.push_err(&SqlError::new(
                        ErrorCode::ER_NET_READ_ERROR,
                        "Malformed COM_STMT_EXECUTE packet",
                    ))?;
                } else {
                    let id = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                    match statements.get_mut(&id) {
                        None => conn.push_err(&SqlError::new(
                            ErrorCode::ER_UNKNOWN_STMT_HANDLER,
                            format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_execute"),
                        ))?,
                        Some(stmt) => {
                            let decoded =
                                decode_params(&body[9..], stmt.params, &mut stmt.types, &stmt.long_data);
                            stmt.long_data.clear();
                            match decoded {
                                Err(e) => conn.push_err(&SqlError::new(
                                    ErrorCode::ER_WRONG_ARGUMENTS,
                                    format!("Incorrect arguments to mysqld_stmt_execute: {e}"),
                                ))?,
                                Ok(params) => {
                                    let sql = stmt.sql.clone();
                                    let r = AssertUnwindSafe(session.execute_prepared(&sql, params))
                                        .catch_unwind()
                                        .await
                                        .unwrap_or_else(|_| Err(panic_error("COM_STMT_EXECUTE")));
                                    match r {
                                        Ok(result) => {
                                            write_result(conn, result, false, true).await?;
                                        }
                                        Err(e) => conn.push_err(&e)?,
                                    }
                                }
                            }
                        }
                    }
                }
            }
            cmd::STMT_SEND_LONG_DATA => {
                // No response.
                if body.len() >= 6 {
                    let id = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                    let param = u16::from_le_bytes([body[4], body[5]]);
                    if let Some(stmt) = statements.get_mut(&id) {
                        stmt.long_data
                            .entry(param)
                            .or_default()
                            .extend_from_slice(&body[6..]);
                    }
                }
                continue;
            }
            cmd::STMT_CLOSE => {
                // No response.
                if body.len() >= 4 {
                    let id = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                    statements.remove(&id);
                }
                continue;
            }
            cmd::STMT_RESET => {
                if body.len() >= 4 {
                    let id = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                    if let Some(stmt) = statements.get_mut(&id) {
                        stmt.long_data.clear();
                    }
                }
                conn.push_ok(0, 0, status(false), 0, "")?;
            }
            other => {
                conn.push_err(&SqlError::new(
                    ErrorCode::ER_UNKNOWN_COM_ERROR,
                    format!("Unknown command {other:#04x}"),
                ))?;
            }
        }
        conn.flush().await?;
    }
}

async fn run_query<S: AsyncRead + AsyncWrite + Unpin + Send, Sess: MysqlSession>(
    conn: &mut Conn<S>,
    session: &mut Sess,
    sql: &str,
) -> io::Result<()> {
    let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| session.parse(sql)))
        .unwrap_or_else(|_| Err(panic_error("parsing")));
    let statements = match parsed {
        Ok(s) => s,
        Err(e) => return conn.push_err(&e),
    };
    if statements.is_empty() {
        return conn.push_err(&SqlError::new(ErrorCode::ER_EMPTY_QUERY, "Query was empty"));
    }
    let n = statements.len();
    for (i, stmt) in statements.into_iter().enumerate() {
        let more = i + 1 < n;
        let r = AssertUnwindSafe(session.execute(stmt))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                error!("statement execution panicked; this is a bug");
                Err(panic_error("statement execution"))
            });
        match r {
            Ok(result) => {
                if let Outcome::Stop = write_result(conn, result, more, false).await? {
                    return Ok(());
                }
            }
            Err(e) => return conn.push_err(&e),
        }
    }
    Ok(())
}

async fn write_result<S: AsyncRead + AsyncWrite + Unpin + Send>(
    conn: &mut Conn<S>,
    result: QueryResult,
    more: bool,
    binary: bool,
) -> io::Result<Outcome> {
    match result {
        QueryResult::Ok {
            affected_rows,
            last_insert_id,
            warnings,
            info,
        } => {
            conn.push_ok(affected_rows, last_insert_id, status(more), warnings, &info)?;
            Ok(Outcome::Continue)
        }
        QueryResult::Rows { schema, mut stream } => {
            let mut head = vec![];
            mysql_common::io::BufMutExt::put_lenenc_int(&mut head, schema.fields().len() as u64);
            conn.push(&head)?;
            for f in schema.fields() {
                conn.push(&column_definition(f, "", ""))?;
            }
            conn.push_terminator(status(more), 0, false)?;
            let mut row_buf = Vec::with_capacity(256);
            loop {
                let next = AssertUnwindSafe(stream.next()).catch_unwind().await;
                let batch = match next {
                    Ok(None) => break,
                    Ok(Some(Ok(b))) => b,
                    Ok(Some(Err(e))) => {
                        conn.push_err(&e)?;
                        return Ok(Outcome::Stop);
                    }
                    Err(_) => {
                        error!("result stream panicked; this is a bug");
                        conn.push_err(&panic_error("query execution"))?;
                        return Ok(Outcome::Stop);
                    }
                };
                if batch.num_columns() != schema.fields().len() {
                    warn!(
                        "result batch has {} columns, schema {}",
                        batch.num_columns(),
                        schema.fields().len()
                    );
                    conn.push_err(&SqlError::internal(
                        "result batch does not match its schema",
                    ))?;
                    return Ok(Outcome::Stop);
                }
                // Encode in bounded slices so output is flushed while a large batch is
                // written; formatters are not `Send`, so none lives across an await.
                let mut start = 0;
                while start < batch.num_rows() {
                    let end = encode_rows(conn, &batch, start, binary, &mut row_buf)?;
                    conn.maybe_flush().await?;
                    if end == start {
                        break;
                    }
                    start = end;
                }
                if batch.num_rows() > 0 && start < batch.num_rows() {
                    conn.push_err(&SqlError::internal("cannot format result values"))?;
                    return Ok(Outcome::Stop);
                }
            }
            conn.push_terminator(status(more), 0, true)?;
            Ok(Outcome::Continue)
        }
    }
}

/// Encodes rows of `batch` from `start` until the output buffer is due for a flush.
/// Returns the next row to encode (== `start` when the batch cannot be formatted).
fn encode_rows<S: AsyncRead + AsyncWrite + Unpin + Send>(
    conn: &mut Conn<S>,
    batch: &datafusion::arrow::array::RecordBatch,
    start: usize,
    binary: bool,
    row_buf: &mut Vec<u8>,
) -> io::Result<usize> {
    let Ok(mut text) = TextRowWriter::try_new(batch) else {
        return Ok(start);
    };
    let mut row = start;
    while row < batch.num_rows() {
        row_buf.clear();
        if binary {
            write_binary_row(batch, &mut text, row, row_buf);
        } else {
            text.write_row(row, row_buf);
        }
        conn.push(row_buf)?;
        row += 1;
        if conn.wbuf.len() >= FLUSH_THRESHOLD {
            break;
        }
    }
    Ok(row)
}
