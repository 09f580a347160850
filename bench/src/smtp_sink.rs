//! A minimal SMTP server that accepts every message and throws it away, so
//! the server's delivery workers succeed quickly during the `messaging`
//! benchmark. It speaks just enough of RFC 5321 for a plaintext client:
//! greeting 220; 250 to EHLO/HELO/MAIL/RCPT/RSET/NOOP; 354 to DATA, then
//! everything up to the line "." and "250 2.0.0 Ok: queued as N"; 221 to
//! QUIT. It counts connections, messages and message bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Longest command or data line accepted; a longer one ends the session.
const MAX_LINE: usize = 64 * 1024;

#[derive(Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
    /// Microseconds from the 354 reply to the end of the data, summed: how
    /// long clients take to transfer a message (a stall of ~40 ms per
    /// message is Nagle's algorithm on the client meeting delayed ACKs).
    pub data_us: AtomicU64,
    /// Sessions that ended with an I/O error or an oversized line.
    pub errors: AtomicU64,
}

/// A running sink; it stops with the runtime.
pub struct SmtpSink {
    pub port: u16,
    pub counters: Arc<Counters>,
}

impl SmtpSink {
    /// Listens on 127.0.0.1 (`port` 0: any free port).
    pub async fn start(port: u16) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("SMTP sink: binding 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of file descriptors and the like: try again shortly.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let counters = Arc::clone(&shared);
                counters.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    if session(stream, &counters).await.is_err() {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        Ok(Self { port, counters })
    }

    /// Messages accepted so far.
    pub fn messages(&self) -> u64 {
        self.counters.messages.load(Ordering::Relaxed)
    }

    /// Summed DATA transfer time so far, in microseconds.
    pub fn data_us(&self) -> u64 {
        self.counters.data_us.load(Ordering::Relaxed)
    }
}

/// Reads one line (up to and including `\n`) into `line`; `false` at EOF.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R, line: &mut Vec<u8>) -> Result<bool> {
    line.clear();
    let n = reader.read_until(b'\n', line).await?;
    anyhow::ensure!(line.len() <= MAX_LINE, "line longer than {MAX_LINE} bytes");
    Ok(n > 0)
}

async fn session(stream: TcpStream, counters: &Counters) -> Result<()> {
    stream.set_nodelay(true)?;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer
        .write_all(b"220 promohub-bench ESMTP sink\r\n")
        .await?;
    let mut line = Vec::with_capacity(256);
    while read_line(&mut reader, &mut line).await? {
        let verb: String = line
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .map(|b| b.to_ascii_uppercase() as char)
            .collect();
        let reply: &[u8] = match verb.as_str() {
            // 8BITMIME and SMTPUTF8, so that any message is accepted.
            "EHLO" => b"250-promohub-bench\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 promohub-bench\r\n",
            "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 2.0.0 Ok\r\n",
            "DATA" => {
                writer
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data_started = std::time::Instant::now();
                let mut bytes = 0u64;
                loop {
                    anyhow::ensure!(
                        read_line(&mut reader, &mut line).await?,
                        "connection closed during DATA"
                    );
                    // The terminator is a line holding only "." (a leading
                    // dot of the content is doubled by the client).
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    bytes += line.len() as u64;
                }
                let n = counters.messages.fetch_add(1, Ordering::Relaxed) + 1;
                counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                let us = u64::try_from(data_started.elapsed().as_micros()).unwrap_or(u64::MAX);
                counters.data_us.fetch_add(us, Ordering::Relaxed);
                writer
                    .write_all(format!("250 2.0.0 Ok: queued as {n}\r\n").as_bytes())
                    .await?;
                continue;
            }
            "QUIT" => {
                writer.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognised\r\n",
        };
        writer.write_all(reply).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Sends `script` and reads until the server closes.
    async fn converse(port: u16, script: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(script.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn accepts_and_counts_messages() {
        let sink = SmtpSink::start(0).await.unwrap();
        let script = "EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n\
                      Subject: hi\r\n\r\n..a line starting with a dot\r\n.\r\n\
                      MAIL FROM:<a@b.test>\r\nRCPT TO:<e@d.test>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n";
        let out = converse(sink.port, script).await;
        let codes: Vec<&str> = out.lines().map(|l| &l[..4]).collect();
        assert_eq!(
            codes,
            [
                "220 ", "250-", "250-", "250 ", "250 ", "250 ", "354 ", "250 ", "250 ", "250 ",
                "354 ", "250 ", "221 "
            ],
            "{out}"
        );
        assert!(out.contains("queued as 1\r\n") && out.contains("queued as 2\r\n"));
        assert_eq!(sink.messages(), 2);
        assert_eq!(sink.counters.connections.load(Ordering::Relaxed), 1);
        assert!(sink.counters.bytes.load(Ordering::Relaxed) > 20);
    }

    #[tokio::test]
    async fn unknown_commands_and_eof_during_data() {
        let sink = SmtpSink::start(0).await.unwrap();
        let out = converse(sink.port, "HELO x\r\nVRFY y\r\nQUIT\r\n").await;
        assert!(out.contains("502 "), "{out}");
        // The client goes away in the middle of DATA: nothing is counted.
        let mut stream = TcpStream::connect(("127.0.0.1", sink.port)).await.unwrap();
        stream
            .write_all(b"HELO x\r\nDATA\r\npartial\r\n")
            .await
            .unwrap();
        drop(stream);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(sink.messages(), 0);
    }
}
