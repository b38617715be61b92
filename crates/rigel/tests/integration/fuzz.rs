//! Protocol fuzzing: random, truncated and oversized packets, before and after login. The
//! server must stay up and keep serving other clients.

use std::time::Duration;

use mysql_async::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestServer;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, seq];
    out.extend_from_slice(payload);
    out
}

/// Reads the server greeting (or whatever arrives) without waiting forever.
async fn read_some(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].to_vec(),
        _ => vec![],
    }
}

/// A handshake response logging in as root without a password.
fn login_packet() -> Vec<u8> {
    use mysql_common::constants::CapabilityFlags;
    let caps = CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_MULTI_RESULTS;
    let response = mysql_common::packets::HandshakeResponse::new(
        Some(&b""[..]),
        (8, 0, 33),
        Some(&b"root"[..]),
        None::<&[u8]>,
        Some(mysql_common::packets::AuthPlugin::MysqlNativePassword),
        caps,
        None,
        16 * 1024 * 1024,
    );
    let mut payload = vec![];
    mysql_common::proto::MySerialize::serialize(&response, &mut payload);
    frame(1, &payload)
}

async fn still_serving(port: u16) {
    let mut c = crate::common::connect(port, None).await;
    let one: i64 = c.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_truncated_packets_leave_server_up() {
    let server = TestServer::start().await;
    let port = server.port();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    // A legitimate client stays connected through the whole run.
    let mut bystander = crate::common::connect(port, None).await;

    for round in 0..200u32 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let greeting = read_some(&mut s).await;
        assert!(!greeting.is_empty(), "round {round}: no greeting");
        let logged_in = round % 2 == 1;
        if logged_in {
            s.write_all(&login_packet()).await.unwrap();
            let ok = read_some(&mut s).await;
            assert!(
                ok.len() > 4 && ok[4] == 0x00,
                "round {round}: login failed: {ok:?}"
            );
        }
        let seq = if logged_in { 0 } else { 1 };
        let attack = match rng.below(7) {
            // Random bytes, no framing at all.
            0 => {
                let n = rng.below(300) as usize;
                rng.bytes(n)
            }
            // A well-framed packet of random content.
            1 => {
                let n = rng.below(200) as usize;
                frame(seq, &rng.bytes(n))
            }
            // A header promising more than arrives (truncated).
            2 => {
                let mut f = frame(seq, &rng.bytes(50));
                f[0] = 0xFF;
                f[1] = 0x00;
                f
            }
            // A known command with a truncated body.
            3 => {
                let cmd = [0x03u8, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x02, 0x04][rng.below(8) as usize];
                let mut body = vec![cmd];
                let n = rng.below(6) as usize;
                body.extend(rng.bytes(n));
                frame(seq, &body)
            }
            // An oversized packet header (16 MB - 1, the maximum frame).
            4 => vec![0xFF, 0xFF, 0xFF, seq],
            // Wrong sequence id.
            5 => frame(seq.wrapping_add(7), &[0x03, b'S', b'E', b'L']),
            // COM_STMT_EXECUTE for a statement that does not exist, with junk params.
            _ => {
                let mut body = vec![0x17];
                body.extend_from_slice(&(rng.below(10) as u32).to_le_bytes());
                let n = rng.below(40) as usize;
                body.extend(rng.bytes(n));
                frame(seq, &body)
            }
        };
        let _ = s.write_all(&attack).await;
        // Sometimes vanish right away, sometimes wait for the answer.
        if rng.below(2) == 0 {
            let _ = read_some(&mut s).await;
        }
        drop(s);
        if round % 25 == 0 {
            still_serving(port).await;
        }
    }
    still_serving(port).await;
    let one: i64 = bystander.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);

    // A client that vanishes in the middle of a large result.
    let mut c = crate::common::connect(port, None).await;
    let stream = c
        .query_iter("SELECT value FROM generate_series(1, 2000000)")
        .await
        .unwrap();
    drop(stream);
    drop(c);
    still_serving(port).await;
    server.stop().await;
}
