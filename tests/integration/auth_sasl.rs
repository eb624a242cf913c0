//! Authentication over real sockets: SASL PLAIN (RFC 4616), LOGIN
//! (draft-murchison-sasl-login) and SCRAM-SHA-256 (RFC 5802, RFC 7677) with
//! IMAP AUTHENTICATE (RFC 9051 §6.2.2, RFC 4959) and POP3 AUTH (RFC 5034),
//! driven by Python's imaplib and poplib with a small SCRAM client and by
//! IMAPClient; plaintext refused before TLS; RFC 5530 response codes;
//! failed-login delays and the per-address connection limit; and what the
//! users table keeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use archiveopteryx::server::{self, Listeners, Protocol};
use archiveopteryx::store::{Db, DbRole};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice};

/// IMAP and POP3 listeners sharing one server state (one throttle, one
/// connection table), as a server process has them.
struct Servers {
    imap: SocketAddr,
    pop3: SocketAddr,
}

async fn start(db: &TestDb, settings: &[(&str, &str)]) -> Servers {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = db.config();
    for (k, v) in settings {
        config.set(k, v).unwrap();
    }
    let imap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pop3 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = Servers {
        imap: imap.local_addr().unwrap(),
        pop3: pop3.local_addr().unwrap(),
    };
    let listeners = Listeners::from_bound(vec![(Protocol::Imap, imap), (Protocol::Pop3, pop3)]);
    let state =
        server::shared_state(config, &Db::from_config(&db.config(), DbRole::Runtime)).unwrap();
    tokio::spawn(server::run(listeners, state, std::future::pending()));
    addrs
}

/// A self-signed certificate for localhost.
fn certificate(db: &TestDb) -> String {
    let path = db.config_path.parent().unwrap().join("auth-test-cert.pem");
    archiveopteryx::net::tls::ensure_self_signed(&path, &["localhost"]).unwrap();
    path.display().to_string()
}

/// Plaintext allowed, and no delays: tests of mechanisms, not of throttling.
const OPEN: &[(&str, &str)] = &[
    ("allow-plaintext-passwords", "always"),
    ("auth-failures-before-delay", "1000"),
];

/// The client side of the three mechanisms, as callbacks in the shape
/// imaplib's `authenticate` takes: challenge bytes in, response bytes out.
const MECHANISMS_PY: &str = r#"
import base64, hashlib, hmac, json, os, ssl, sys

class Scram:
    """RFC 5802 §3 client side; checks the server's signature too. With
    `cbind`, binds to it as tls-server-end-point (-PLUS); `gs2` overrides
    the flag (to send "y")."""
    def __init__(self, user, password, cbind=None, gs2=None):
        self.user, self.password, self.step = user, password, 0
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.server_ok = False
        self.gs2 = gs2 or ("p=tls-server-end-point,," if cbind is not None else "n,,")
        self.cbind = cbind or b""
    def __call__(self, challenge):
        if self.step == 0:
            self.step = 1
            name = self.user.replace("=", "=3D").replace(",", "=2C")
            self.bare = "n=%s,r=%s" % (name, self.nonce)
            return (self.gs2 + self.bare).encode()
        if self.step == 1:
            self.step = 2
            sf = challenge.decode()
            a = dict(kv.split("=", 1) for kv in sf.split(","))
            assert a["r"].startswith(self.nonce) and len(a["r"]) > len(self.nonce)
            salted = hashlib.pbkdf2_hmac(
                "sha256", self.password.encode(), base64.b64decode(a["s"]), int(a["i"]))
            ck = hmac.new(salted, b"Client Key", "sha256").digest()
            stored = hashlib.sha256(ck).digest()
            c = base64.b64encode(self.gs2.encode() + self.cbind).decode()
            wp = "c=" + c + ",r=" + a["r"]
            auth = ",".join([self.bare, sf, wp]).encode()
            sig = hmac.new(stored, auth, "sha256").digest()
            proof = bytes(x ^ y for x, y in zip(ck, sig))
            sk = hmac.new(salted, b"Server Key", "sha256").digest()
            self.expected = "v=" + base64.b64encode(hmac.new(sk, auth, "sha256").digest()).decode()
            return (wp + ",p=" + base64.b64encode(proof).decode()).encode()
        self.server_ok = challenge.decode() == self.expected
        return b""

def end_point(sock):
    """RFC 5929 tls-server-end-point of the server's certificate (SHA-256
    signed, as the tests' certificates are); empty without TLS."""
    if not hasattr(sock, "getpeercert"):
        return b""
    return hashlib.sha256(sock.getpeercert(binary_form=True)).digest()

def mechanism(name, user, password, sock):
    """`name` may carry a variant after "/": "other" binds to another end
    point, "y" claims the client saw no channel binding offered."""
    name, _, variant = name.partition("/")
    if name == "SCRAM-SHA-256-PLUS":
        other = hashlib.sha256(b"another certificate").digest()
        return Scram(user, password, cbind=other if variant == "other" else end_point(sock))
    if name == "SCRAM-SHA-256":
        return Scram(user, password, gs2="y,," if variant == "y" else None)
    if name == "PLAIN":
        return lambda _: ("\0%s\0%s" % (user, password)).encode()
    if name == "LOGIN":
        answers = {b"Username:": user.encode(), b"Password:": password.encode()}
        return lambda challenge: answers[challenge]
    raise ValueError(name)

def tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx

def verdict(cb):
    # A SCRAM success counts only when the server proved it knows the verifier.
    return "OK" if not isinstance(cb, Scram) or cb.server_ok else "OK, bad server signature"
"#;

/// One IMAP connection per attempt `[mechanism, user, password, starttls]`;
/// `LOGIN-COMMAND` is the LOGIN command rather than the SASL mechanism.
const IMAPLIB_PY: &str = r#"
import imaplib
host, port, attempts = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
out = []
for mech, user, password, starttls in attempts:
    c = imaplib.IMAP4(host, port, timeout=60)
    if starttls:
        c.starttls(ssl_context=tls())
    caps = sorted(c.capabilities)
    try:
        if mech == "LOGIN-COMMAND":
            c.login(user, password)
            result = "OK"
        else:
            cb = mechanism(mech, user, password, c.sock)
            c.authenticate(mech.partition("/")[0], cb)
            result = verdict(cb)
        c.select("INBOX")
    except imaplib.IMAP4.error as e:
        # LOGIN's error text comes as a bytes repr, AUTHENTICATE's as text.
        text = str(e)
        result = "NO " + (text[2:-1] if text.startswith("b'") else text)
    c.logout()
    out.append({"caps": caps, "result": result})
print(json.dumps(out))
"#;

/// The same over POP3: RFC 5034 §4 AUTH rounds by hand on poplib's line
/// helpers (poplib has no SASL of its own); `USER-PASS` is RFC 1939 USER/PASS.
const POPLIB_PY: &str = r#"
import poplib
host, port, attempts = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])

def auth(p, mech, cb):
    p._putcmd("AUTH " + mech)
    while True:
        resp = p._getresp()
        if resp.startswith(b"+OK"):
            return resp
        challenge = base64.b64decode(resp[2:])
        p._putcmd(base64.b64encode(cb(challenge)).decode())

out = []
for mech, user, password, stls in attempts:
    p = poplib.POP3(host, port, timeout=60)
    if stls:
        p.stls(context=tls())
    sasl = p.capa().get("SASL", [])
    try:
        if mech == "USER-PASS":
            p.user(user)
            p.pass_(password)
            result = "OK"
        else:
            cb = mechanism(mech, user, password, p.sock)
            auth(p, mech.partition("/")[0], cb)
            result = verdict(cb)
        p.stat()
    except poplib.error_proto as e:
        result = "ERR " + e.args[0].decode()
    p.quit()
    out.append({"sasl": sasl, "result": result})
print(json.dumps(out))
"#;

/// Runs `script` (after the mechanisms) with the server's address and
/// `attempts`; returns the JSON it prints.
async fn python(script: &str, addr: SocketAddr, attempts: serde_json::Value) -> serde_json::Value {
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(format!("{MECHANISMS_PY}\n{script}"))
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(attempts.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn results(out: &serde_json::Value) -> Vec<String> {
    out.as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn rfc7677_rfc4616_each_mechanism_right_and_wrong_over_imap_with_imaplib() {
    let db = TestDb::new().await;
    add_alice(&db);
    let s = start(&db, OPEN).await;
    let attempts = serde_json::json!([
        ["SCRAM-SHA-256", "alice", "secret", false],
        ["SCRAM-SHA-256", "alice", "wrong", false],
        ["SCRAM-SHA-256", "nobody", "secret", false],
        ["PLAIN", "alice", "secret", false],
        ["PLAIN", "alice", "wrong", false],
        ["LOGIN", "alice", "secret", false],
        ["LOGIN", "alice", "wrong", false],
        ["LOGIN", "ALICE", "secret", false],
    ]);
    let out = python(IMAPLIB_PY, s.imap, attempts).await;
    let failed = "NO [AUTHENTICATIONFAILED] invalid credentials";
    assert_eq!(
        results(&out),
        ["OK", failed, failed, "OK", failed, "OK", failed, "OK"],
        "{out}"
    );
    let caps = &out[0]["caps"];
    for cap in ["AUTH=SCRAM-SHA-256", "AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR"] {
        assert!(
            caps.as_array().unwrap().contains(&cap.into()),
            "{cap}: {caps}"
        );
    }
}

#[tokio::test]
async fn rfc5034_each_mechanism_right_and_wrong_over_pop3_with_poplib() {
    let db = TestDb::new().await;
    add_alice(&db);
    let s = start(&db, OPEN).await;
    let attempts = serde_json::json!([
        ["SCRAM-SHA-256", "alice", "secret", false],
        ["SCRAM-SHA-256", "alice", "wrong", false],
        ["SCRAM-SHA-256", "nobody", "secret", false],
        ["PLAIN", "alice", "secret", false],
        ["PLAIN", "alice", "wrong", false],
        ["LOGIN", "alice", "secret", false],
        ["LOGIN", "alice", "wrong", false],
        ["USER-PASS", "alice", "secret", false],
        ["USER-PASS", "alice", "wrong", false],
    ]);
    let out = python(POPLIB_PY, s.pop3, attempts).await;
    let failed = "ERR -ERR [AUTH] invalid credentials";
    assert_eq!(
        results(&out),
        [
            "OK", failed, failed, "OK", failed, "OK", failed, "OK", failed
        ],
        "{out}"
    );
    assert_eq!(
        out[0]["sasl"],
        serde_json::json!(["SCRAM-SHA-256", "PLAIN", "LOGIN"])
    );
}

#[tokio::test]
async fn rfc9051_6_2_3_plaintext_mechanisms_only_after_starttls_and_scram_before_it() {
    let db = TestDb::new().await;
    add_alice(&db);
    let cert = certificate(&db);
    let s = start(
        &db,
        &[
            ("allow-plaintext-passwords", "never"),
            ("tls-certificate", &cert),
        ],
    )
    .await;
    let out = python(
        IMAPLIB_PY,
        s.imap,
        serde_json::json!([
            ["PLAIN", "alice", "secret", false],
            ["LOGIN", "alice", "secret", false],
            ["LOGIN-COMMAND", "alice", "secret", false],
            ["SCRAM-SHA-256", "alice", "secret", false],
            ["LOGIN", "alice", "secret", true],
            ["PLAIN", "alice", "secret", true],
            ["LOGIN-COMMAND", "alice", "secret", true],
            // RFC 5802 §6 channel binding, RFC 5929 tls-server-end-point.
            ["SCRAM-SHA-256-PLUS", "alice", "secret", true],
            ["SCRAM-SHA-256-PLUS/other", "alice", "secret", true],
            ["SCRAM-SHA-256-PLUS", "alice", "secret", false],
            ["SCRAM-SHA-256/y", "alice", "secret", false],
            ["SCRAM-SHA-256/y", "alice", "secret", true],
        ]),
    )
    .await;
    let refused = "NO [PRIVACYREQUIRED] plaintext passwords are not allowed without TLS";
    let results = results(&out);
    assert_eq!(
        results[..8],
        [refused, refused, refused, "OK", "OK", "OK", "OK", "OK"],
        "{out}"
    );
    // Bound to another certificate: refused at c=, before the proof.
    assert!(
        results[8].contains("BAD") && results[8].contains("channel binding does not match"),
        "{out}"
    );
    // No -PLUS without TLS.
    assert!(
        results[9].starts_with("NO [CANNOT] the SCRAM-SHA-256-PLUS mechanism is not available"),
        "{out}"
    );
    // "y": fine where no binding is offered, a downgrade sign where it is.
    assert_eq!(results[10], "OK", "{out}");
    assert!(
        results[11].contains("BAD") && results[11].contains("offered here"),
        "{out}"
    );
    let caps = |i: usize| -> Vec<String> {
        out[i]["caps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    let before = caps(0);
    for cap in ["AUTH=SCRAM-SHA-256", "LOGINDISABLED", "STARTTLS"] {
        assert!(before.iter().any(|c| c == cap), "{cap}: {before:?}");
    }
    for cap in ["AUTH=PLAIN", "AUTH=LOGIN", "AUTH=SCRAM-SHA-256-PLUS"] {
        assert!(!before.iter().any(|c| c == cap), "{cap}: {before:?}");
    }
    let after = caps(4);
    for cap in [
        "AUTH=SCRAM-SHA-256-PLUS",
        "AUTH=SCRAM-SHA-256",
        "AUTH=PLAIN",
        "AUTH=LOGIN",
    ] {
        assert!(after.iter().any(|c| c == cap), "{cap}: {after:?}");
    }
    for cap in ["LOGINDISABLED", "STARTTLS"] {
        assert!(!after.iter().any(|c| c == cap), "{cap}: {after:?}");
    }
}

#[tokio::test]
async fn rfc2595_pop3_plaintext_mechanisms_only_after_stls_and_scram_before_it() {
    let db = TestDb::new().await;
    add_alice(&db);
    let cert = certificate(&db);
    let s = start(
        &db,
        &[
            ("allow-plaintext-passwords", "never"),
            ("tls-certificate", &cert),
        ],
    )
    .await;
    let out = python(
        POPLIB_PY,
        s.pop3,
        serde_json::json!([
            ["PLAIN", "alice", "secret", false],
            ["LOGIN", "alice", "secret", false],
            ["SCRAM-SHA-256", "alice", "secret", false],
            ["LOGIN", "alice", "secret", true],
            ["PLAIN", "alice", "secret", true],
            ["SCRAM-SHA-256-PLUS", "alice", "secret", true],
            ["SCRAM-SHA-256-PLUS/other", "alice", "secret", true],
        ]),
    )
    .await;
    let refused = "ERR -ERR [AUTH] plaintext passwords are not allowed without TLS; use STLS first";
    assert_eq!(
        results(&out),
        [
            refused,
            refused,
            "OK",
            "OK",
            "OK",
            "OK",
            "ERR -ERR the SCRAM channel binding does not match"
        ],
        "{out}"
    );
    assert_eq!(out[0]["sasl"], serde_json::json!(["SCRAM-SHA-256"]));
    assert_eq!(
        out[3]["sasl"],
        serde_json::json!(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN"])
    );
}

/// Sends one line in answer to a continuation and reads the next line.
async fn answer(c: &mut Client, line: &str) -> String {
    c.send(format!("{line}\r\n").as_bytes()).await;
    c.read_response_line().await
}

/// The base64 of a challenge line `+ <base64>`, decoded.
fn challenge(line: &str) -> String {
    let data = line
        .strip_prefix("+ ")
        .unwrap_or_else(|| panic!("not a challenge: {line}"));
    String::from_utf8(B64.decode(data).unwrap()).unwrap()
}

#[tokio::test]
async fn rfc9051_6_2_2_authenticate_rounds_cancel_sasl_ir_and_malformed_messages() {
    let db = TestDb::new().await;
    add_alice(&db);
    let mut settings = OPEN.to_vec();
    settings.push(("max-line-length", "1024"));
    let s = start(&db, &settings).await;
    let mut c = Client::connect(s.imap).await;

    // SASL-IR: the client-first in the command; the server-first comes back.
    let tag = c.tag();
    let first = B64.encode("n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL");
    c.send(format!("{tag} AUTHENTICATE SCRAM-SHA-256 {first}\r\n").as_bytes())
        .await;
    let sf = challenge(&c.read_response_line().await);
    assert!(sf.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"), "{sf}");
    assert!(sf.contains(",s=") && sf.ends_with(",i=4096"), "{sf}");
    // RFC 9051 §6.2.2: "*" cancels, and the reply is BAD.
    c.send(b"*\r\n").await;
    let r = c.until(&tag).await;
    assert_eq!(r.status(), "BAD", "{r:?}");
    assert!(r.tagged.contains("cancelled"), "{r:?}");

    // An unknown user gets a server-first all the same, with a salt that
    // stays the same from one try to the next (RFC 5802 §9).
    let decoy = |c: &mut Client| {
        let tag = c.tag();
        let first = B64.encode("n,,n=nobody,r=abc");
        (tag, format!("AUTHENTICATE SCRAM-SHA-256 {first}\r\n"))
    };
    let mut salts = Vec::new();
    for _ in 0..2 {
        let (tag, cmd) = decoy(&mut c);
        c.send(format!("{tag} {cmd}").as_bytes()).await;
        let sf = challenge(&c.read_response_line().await);
        salts.push(sf.split(',').skip(1).collect::<Vec<_>>().join(","));
        c.send(b"*\r\n").await;
        assert_eq!(c.until(&tag).await.status(), "BAD");
    }
    assert_eq!(salts[0], salts[1]);

    // Channel binding demanded ("p="): not offered, so refused.
    let cb = B64.encode("p=tls-server-end-point,,n=alice,r=abc");
    let r = c.cmd(&format!("AUTHENTICATE SCRAM-SHA-256 {cb}")).await;
    assert_eq!(r.status(), "BAD", "{r:?}");
    // No n=.
    let r = c
        .cmd(&format!(
            "AUTHENTICATE SCRAM-SHA-256 {}",
            B64.encode("n,,r=abc")
        ))
        .await;
    assert_eq!(r.status(), "BAD", "{r:?}");
    // A continuation answer that is not base64.
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE SCRAM-SHA-256\r\n").as_bytes())
        .await;
    assert_eq!(c.read_response_line().await, "+ ");
    c.send(b"!!!\r\n").await;
    let r = c.until(&tag).await;
    assert_eq!(r.tagged, format!("{tag} BAD the response is not base64"));
    // The wrong nonce in the client-final.
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE SCRAM-SHA-256 {first}\r\n").as_bytes())
        .await;
    challenge(&c.read_response_line().await);
    let fin = B64.encode("c=biws,r=fyko+d2lbbFgONRv9qkxdawLXXX,p=AAAA");
    c.send(format!("{fin}\r\n").as_bytes()).await;
    assert_eq!(c.until(&tag).await.status(), "BAD");
    // RFC 4959 §3: "=" is an empty initial response, which PLAIN refuses.
    assert_eq!(c.cmd("AUTHENTICATE PLAIN =").await.status(), "BAD");
    let r = c.cmd("AUTHENTICATE CRAM-MD5").await;
    assert_eq!(r.status(), "NO");
    assert!(r.tagged.contains("[CANNOT]"), "{r:?}");
    // PLAIN acting as someone else: RFC 5530 AUTHORIZATIONFAILED.
    let r = c
        .cmd(&format!(
            "AUTHENTICATE PLAIN {}",
            B64.encode("bob\0alice\0secret")
        ))
        .await;
    assert!(r.tagged.contains("NO [AUTHORIZATIONFAILED]"), "{r:?}");

    // A line over max-line-length in answer to a continuation ends the
    // exchange under its tag.
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes())
        .await;
    assert_eq!(c.read_response_line().await, "+ ");
    c.send(format!("{}\r\n", "A".repeat(2000)).as_bytes()).await;
    let r = c.until(&tag).await;
    assert_eq!(r.status(), "BAD", "{r:?}");
    assert!(r.tagged.contains("line too long"), "{r:?}");

    // LOGIN by hand, and the session is usable after all the above.
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE LOGIN\r\n").as_bytes())
        .await;
    assert_eq!(challenge(&c.read_response_line().await), "Username:");
    let next = answer(&mut c, &B64.encode("alice")).await;
    assert_eq!(challenge(&next), "Password:");
    c.send(format!("{}\r\n", B64.encode("secret")).as_bytes())
        .await;
    let r = c.until(&tag).await;
    assert!(r.ok(), "{r:?}");
    assert!(r.tagged.contains("[CAPABILITY "), "{r:?}");
    assert!(c.cmd("SELECT INBOX").await.ok());
}

#[tokio::test]
async fn nth_failure_waits_the_configured_delay_and_so_does_the_next_try() {
    let db = TestDb::new().await;
    add_alice(&db);
    let s = start(
        &db,
        &[
            ("allow-plaintext-passwords", "always"),
            ("auth-failures-before-delay", "1"),
            ("auth-failure-delay", "1"),
            ("auth-failure-max-delay", "2"),
        ],
    )
    .await;
    let mut c = Client::connect(s.imap).await;
    let failed = |r: &crate::imap_support::Reply| r.tagged.contains("NO [AUTHENTICATIONFAILED]");
    // The first failure is free.
    assert!(failed(&c.cmd("LOGIN alice wrong").await));
    // The second waits the first delay, the third twice that (lower bounds:
    // this is behaviour, not speed).
    let t = Instant::now();
    assert!(failed(&c.cmd("LOGIN alice wrong").await));
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    // A right password waits as long: a guesser cannot cut a slow reply
    // short and take it for a failure.
    let t = Instant::now();
    assert!(c.cmd("LOGIN alice secret").await.ok());
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    // Success clears alice's count, not the address's: a guess at another
    // login, over POP3 on the same server, still waits (capped at 2s).
    let (r, w) = TcpStream::connect(s.pop3).await.unwrap().into_split();
    let mut r = BufReader::new(r);
    let mut w = w;
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("+OK"), "{line}");
    w.write_all(b"USER carol\r\n").await.unwrap();
    line.clear();
    r.read_line(&mut line).await.unwrap();
    let t = Instant::now();
    w.write_all(b"PASS guess\r\n").await.unwrap();
    line.clear();
    r.read_line(&mut line).await.unwrap();
    assert_eq!(line, "-ERR [AUTH] invalid credentials\r\n");
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
}

#[tokio::test]
async fn max_connections_per_ip_refuses_the_next_connection_over_imap_and_pop3() {
    let db = TestDb::new().await;
    add_alice(&db);
    let s = start(
        &db,
        &[
            ("allow-plaintext-passwords", "always"),
            ("max-connections-per-ip", "2"),
        ],
    )
    .await;
    let mut first = Client::connect(s.imap).await;
    let second = Client::connect(s.imap).await;
    assert!(first.greeting.starts_with("* OK"), "{}", first.greeting);
    assert!(second.greeting.starts_with("* OK"), "{}", second.greeting);
    // The third: a BYE with RFC 5530 UNAVAILABLE, then the connection closes.
    let refused = |addr: SocketAddr| async move {
        let mut r = BufReader::new(TcpStream::connect(addr).await.unwrap());
        let mut all = String::new();
        let mut buf = String::new();
        while r.read_line(&mut buf).await.unwrap() > 0 {
            all.push_str(&buf);
            buf.clear();
        }
        all
    };
    assert_eq!(
        refused(s.imap).await,
        "* BYE [UNAVAILABLE] too many connections from your address\r\n"
    );
    // The limit counts IMAP and POP3 together, per address.
    assert_eq!(
        refused(s.pop3).await,
        "-ERR [SYS/TEMP] too many connections from your address\r\n"
    );
    // The two admitted connections work on.
    assert!(first.cmd("LOGIN alice secret").await.ok());
}

#[tokio::test]
async fn the_users_table_holds_nothing_a_client_could_replay() {
    let db = TestDb::new().await;
    let canary = "Canary-Pw-61c7e";
    let out = db.aox(&["add", "user", "alice", canary, "alice@example.org"]);
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let out = db.aox_with_input(
        &["add", "user", "-p", "bob", "bob@example.org"],
        &format!("{canary}-bob\n"),
    );
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let out = db.aox(&["change", "password", "alice", &format!("{canary}-2")]);
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let owner = db.owner().await;
    let rows = owner
        .query(
            "SELECT login::text, password_hash, scram_verifier, u::text FROM users u ORDER BY login",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let mut stored = Vec::new();
    for row in &rows {
        let hash: String = row.get(1);
        let verifier: String = row.get(2);
        let whole: String = row.get(3);
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
        assert!(!whole.contains("Canary"), "{whole}");
        stored.push((row.get::<_, String>(0), hash, verifier));
    }
    // Neither stored string works as a password, over LOGIN or SCRAM.
    let s = start(&db, OPEN).await;
    let mut c = Client::connect(s.imap).await;
    let mut attempts = Vec::new();
    for (login, hash, verifier) in &stored {
        for secret in [hash, verifier] {
            let r = c
                .cmd(&format!(
                    "LOGIN {login} \"{}\"",
                    secret.replace('\\', "\\\\")
                ))
                .await;
            assert!(r.tagged.contains("NO [AUTHENTICATIONFAILED]"), "{r:?}");
            attempts.push(serde_json::json!(["SCRAM-SHA-256", login, secret, false]));
        }
    }
    attempts.push(serde_json::json!([
        "SCRAM-SHA-256",
        "alice",
        format!("{canary}-2"),
        false
    ]));
    let out = python(IMAPLIB_PY, s.imap, attempts.into()).await;
    let failed = "NO [AUTHENTICATIONFAILED] invalid credentials";
    assert_eq!(
        results(&out),
        [failed, failed, failed, failed, "OK"],
        "{out}"
    );
}

const IMAPCLIENT_PY: &str = r#"
import json, sys
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
host, port = sys.argv[1], int(sys.argv[2])
out = {}
c = IMAPClient(host, port=port, ssl=False, timeout=60)
out["login"] = c.plain_login("alice", "secret").decode()
out["exists"] = c.select_folder("INBOX")[b"EXISTS"]
c.logout()
c = IMAPClient(host, port=port, ssl=False, timeout=60)
try:
    c.plain_login("alice", "wrong")
    out["wrong"] = "accepted"
except LoginError as e:
    out["wrong"] = str(e)
c.logout()
print(json.dumps(out))
"#;

#[tokio::test]
async fn imapclient_plain_login_end_to_end() {
    let db = TestDb::new().await;
    add_alice(&db);
    let s = start(&db, OPEN).await;
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(IMAPCLIENT_PY)
        .arg(s.imap.ip().to_string())
        .arg(s.imap.port().to_string())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        out["login"].as_str().unwrap().contains("logged in"),
        "{out}"
    );
    assert_eq!(out["exists"], 0);
    assert!(
        out["wrong"]
            .as_str()
            .unwrap()
            .contains("AUTHENTICATIONFAILED"),
        "{out}"
    );
}

#[tokio::test]
async fn rfc5530_database_down_is_unavailable_not_a_failed_login() {
    let db = TestDb::new().await;
    add_alice(&db);
    let s = start(&db, OPEN).await;
    let mut c = Client::connect(s.imap).await;
    let (r, mut w) = TcpStream::connect(s.pop3).await.unwrap().into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    // The database goes away under the server, as when PostgreSQL stops.
    let su = crate::harness::superuser("postgres").await;
    su.batch_execute(&format!(
        "ALTER DATABASE {0} WITH ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{0}' AND pid <> pg_backend_pid()",
        db.name
    ))
    .await
    .unwrap();
    let r1 = c.cmd("LOGIN alice secret").await;
    assert!(r1.tagged.contains("NO [UNAVAILABLE]"), "{r1:?}");
    let first = B64.encode("n,,n=alice,r=abc");
    let r2 = c.cmd(&format!("AUTHENTICATE SCRAM-SHA-256 {first}")).await;
    assert!(r2.tagged.contains("NO [UNAVAILABLE]"), "{r2:?}");
    w.write_all(b"USER alice\r\nPASS secret\r\n").await.unwrap();
    let mut replies = String::new();
    for _ in 0..2 {
        r.read_line(&mut replies).await.unwrap();
    }
    assert!(
        replies.ends_with("-ERR [SYS/TEMP] authentication is unavailable; try again\r\n"),
        "{replies}"
    );
    su.batch_execute(&format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
        db.name
    ))
    .await
    .unwrap();
    // Back: the same session logs in.
    assert!(c.cmd("LOGIN alice secret").await.ok());
}

/// Runs `aox … change password -p alice` on a pseudo-terminal, answers the
/// prompt once the terminal's echo is off, and reports all it showed.
const PTY_PY: &str = r#"
import json, os, pty, select, sys, termios, time
aox, conf, password = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execv(aox, [aox, "-c", conf, "change", "password", "-p", "alice"])
out = b""
def read_until(done):
    global out
    while not done():
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            return
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            return
        if not chunk:
            return
        out += chunk
read_until(lambda: b"Password:" in out)
# The prompt is written before echo is turned off: wait for the terminal
# to say it is off (the master reports the slave's settings), at most 30 s.
deadline = time.monotonic() + 30
echo_was_off = False
while time.monotonic() < deadline:
    if not termios.tcgetattr(fd)[3] & termios.ECHO:
        echo_was_off = True
        break
    time.sleep(0.01)
os.write(fd, password.encode() + b"\n")
read_until(lambda: b"Changed the password" in out or b"rror" in out)
read_until(lambda: False)
_, status = os.waitpid(pid, 0)
print(json.dumps({"out": out.decode(errors="replace"), "status": status, "echo_was_off": echo_was_off}))
"#;

#[tokio::test]
async fn aox_change_password_p_prompts_on_a_terminal_without_echo() {
    let db = TestDb::new().await;
    add_alice(&db);
    let typed = "Typed-Secret-4242";
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(PTY_PY)
        .arg(env!("CARGO_BIN_EXE_aox"))
        .arg(&db.config_path)
        .arg(typed)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shown = out["out"].as_str().unwrap();
    assert_eq!(out["status"], 0, "{out}");
    assert_eq!(out["echo_was_off"], true, "{out}");
    assert!(shown.contains("Password:"), "{shown}");
    assert!(shown.contains("Changed the password of alice"), "{shown}");
    assert!(!shown.contains(typed), "the password was echoed: {shown}");
    let s = start(&db, OPEN).await;
    let mut c = Client::connect(s.imap).await;
    assert!(c.cmd(&format!("LOGIN alice {typed}")).await.ok());
}
