//! `cargo run --release --example lmtp -- --port P --mbox ARCHIVE [--host H]
//! [--clients 10] [--users 10] [--recipients 1,10] [--limit N]`: LMTP
//! delivery throughput and latency against a running server, as an MTA
//! drives it.
//!
//! ARCHIVE is read with the store's own archive reader (mbox, Maildir or a
//! directory of .eml files). The recipients are u1@example.org …
//! uN@example.org (`--users N`); create them first.
//!
//! For each recipient count R in `--recipients`, `--clients` connections
//! (LHLO once each) send their share of the messages (message i goes to
//! connection i mod clients), each message to R recipients (R = 1: u1, u2, …
//! in turn; otherwise u1 … uR). Like Postfix's LMTP client, a connection
//! pipelines MAIL, the RCPTs and DATA in one write (the server advertises
//! PIPELINING), then sends the dot-stuffed message and reads one reply per
//! recipient (RFC 2033 §4.2). Every reply must be 2xx/354, or the run stops.
//!
//! Printed, one row per R: messages, deliveries (messages × R), wall
//! seconds, messages/s, deliveries/s, and the p50/p99 latency of one
//! transaction, from writing MAIL to reading the last recipient's reply. A
//! benchmark prints; it asserts nothing about speed. `bench/lmtp.py` is the
//! same benchmark with Python's smtplib, one command at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use archiveopteryx::pop3::wire::Stuffer;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

struct Options {
    host: String,
    port: u16,
    mbox: String,
    clients: usize,
    users: usize,
    recipients: Vec<usize>,
    limit: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 0,
        mbox: String::new(),
        clients: 10,
        users: 10,
        recipients: vec![1, 10],
        limit: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => o.host = value,
            "--port" => o.port = value.parse()?,
            "--mbox" => o.mbox = value,
            "--clients" => o.clients = value.parse()?,
            "--users" => o.users = value.parse()?,
            "--limit" => o.limit = value.parse()?,
            "--recipients" => {
                o.recipients = value.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            _ => bail!("unknown option {flag}"),
        }
    }
    if o.port == 0 || o.mbox.is_empty() {
        bail!(
            "usage: lmtp --port P --mbox ARCHIVE [--host H] [--clients N] [--users N] [--recipients 1,10] [--limit N]"
        );
    }
    if o.clients == 0 || o.recipients.iter().any(|&r| r == 0 || r > o.users) {
        bail!("--clients must be positive and every --recipients count between 1 and --users");
    }
    Ok(o)
}

/// A message as DATA carries it: CRLF line ends, stuffed and ended with
/// the `.` line by the POP3 layer's stuffer (the same rule, RFC 5321 §4.5.2).
fn data_payload(raw: &[u8]) -> Vec<u8> {
    let mut crlf = Vec::with_capacity(raw.len() + raw.len() / 40);
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        crlf.extend_from_slice(text.strip_suffix(b"\r").unwrap_or(text));
        crlf.extend_from_slice(b"\r\n");
    }
    let mut out = Vec::with_capacity(crlf.len() + 8);
    let mut stuffer = Stuffer::new();
    stuffer.push(&crlf, &mut out);
    stuffer.finish(&mut out);
    out
}

/// Reads one (possibly multi-line) reply and returns its code and last line.
async fn reply(conn: &mut BufReader<TcpStream>, line: &mut String) -> anyhow::Result<u16> {
    loop {
        line.clear();
        if conn.read_line(line).await? == 0 {
            bail!("the server closed the connection");
        }
        let code: u16 = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("not a reply: {line:?}"))?;
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
}

async fn expect(
    conn: &mut BufReader<TcpStream>,
    line: &mut String,
    want: u16,
    what: &str,
) -> anyhow::Result<()> {
    let code = reply(conn, line).await?;
    if code != want {
        bail!("{what}: {}", line.trim_end());
    }
    Ok(())
}

async fn client(
    address: String,
    work: Vec<(usize, Arc<Vec<u8>>)>,
    users: Arc<Vec<String>>,
    r: usize,
) -> anyhow::Result<Vec<Duration>> {
    let stream = TcpStream::connect(&address).await?;
    stream.set_nodelay(true)?;
    let mut conn = BufReader::new(stream);
    let mut line = String::new();
    expect(&mut conn, &mut line, 220, "greeting").await?;
    conn.get_mut()
        .write_all(b"LHLO bench.example.net\r\n")
        .await?;
    expect(&mut conn, &mut line, 250, "LHLO").await?;
    let mut latencies = Vec::with_capacity(work.len());
    for (index, payload) in work {
        let recipients: Vec<&String> = if r == 1 {
            vec![&users[index % users.len()]]
        } else {
            users[..r].iter().collect()
        };
        let mut envelope = String::from("MAIL FROM:<bench@example.net>\r\n");
        for rcpt in &recipients {
            envelope.push_str(&format!("RCPT TO:<{rcpt}>\r\n"));
        }
        envelope.push_str("DATA\r\n");
        let start = Instant::now();
        conn.get_mut().write_all(envelope.as_bytes()).await?;
        expect(&mut conn, &mut line, 250, "MAIL").await?;
        for rcpt in &recipients {
            expect(&mut conn, &mut line, 250, &format!("RCPT {rcpt}")).await?;
        }
        expect(&mut conn, &mut line, 354, "DATA").await?;
        conn.get_mut().write_all(&payload).await?;
        for rcpt in &recipients {
            expect(&mut conn, &mut line, 250, &format!("delivery to {rcpt}")).await?;
        }
        latencies.push(start.elapsed());
    }
    conn.get_mut().write_all(b"QUIT\r\n").await?;
    Ok(latencies)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let mut payloads = Vec::new();
    let mut bytes = 0;
    for message in archiveopteryx::archive::open(std::path::Path::new(&o.mbox))? {
        let message = message?;
        bytes += message.raw.len();
        payloads.push(Arc::new(data_payload(&message.raw)));
        if o.limit > 0 && payloads.len() >= o.limit {
            break;
        }
    }
    let users: Arc<Vec<String>> =
        Arc::new((1..=o.users).map(|i| format!("u{i}@example.org")).collect());
    let address = format!("{}:{}", o.host, o.port);
    println!(
        "{} messages ({:.1} MB) from {}, {} concurrent LMTP clients (pipelining), {address}",
        payloads.len(),
        bytes as f64 / 1e6,
        o.mbox,
        o.clients
    );
    println!(
        "{:>5} {:>8} {:>10} {:>8} {:>8} {:>8} {:>7} {:>7}",
        "rcpts", "messages", "deliveries", "seconds", "msgs/s", "deliv/s", "p50 ms", "p99 ms"
    );
    for &r in &o.recipients {
        let mut shares: Vec<Vec<(usize, Arc<Vec<u8>>)>> = vec![Vec::new(); o.clients];
        for (i, p) in payloads.iter().enumerate() {
            shares[i % o.clients].push((i, p.clone()));
        }
        let start = Instant::now();
        let tasks: Vec<_> = shares
            .into_iter()
            .map(|share| tokio::spawn(client(address.clone(), share, users.clone(), r)))
            .collect();
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.context("a client task failed")??);
        }
        let wall = start.elapsed().as_secs_f64();
        latencies.sort();
        let n = latencies.len();
        if n == 0 {
            bail!("no messages were sent");
        }
        let p50 = latencies[n / 2].as_secs_f64();
        let p99 = latencies[(n * 99 / 100).min(n - 1)].as_secs_f64();
        println!(
            "{r:>5} {n:>8} {:>10} {wall:>8.2} {:>8.1} {:>8.1} {:>7.1} {:>7.1}",
            n * r,
            n as f64 / wall,
            (n * r) as f64 / wall,
            p50 * 1e3,
            p99 * 1e3
        );
    }
    Ok(())
}
