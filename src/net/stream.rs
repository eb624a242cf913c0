//! A connection that starts in plaintext and may switch to TLS (STARTTLS),
//! or starts in TLS (IMAPS).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A client connection, plaintext or TLS.
pub enum Stream {
    /// Plaintext TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

/// How long a client may take over its side of a TLS handshake. Without a
/// bound, a client that connects and sends nothing would hold its
/// connection slot (and a task) until the operating system gave up.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

impl Stream {
    /// The server side of a TLS handshake on a fresh connection (IMAPS,
    /// POP3S), failing with `TimedOut` after [`HANDSHAKE_TIMEOUT`].
    pub async fn accept_tls(
        acceptor: &tokio_rustls::TlsAcceptor,
        tcp: TcpStream,
    ) -> io::Result<Stream> {
        Stream::accept_tls_within(acceptor, tcp, HANDSHAKE_TIMEOUT).await
    }

    async fn accept_tls_within(
        acceptor: &tokio_rustls::TlsAcceptor,
        tcp: TcpStream,
        limit: Duration,
    ) -> io::Result<Stream> {
        match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
            Ok(tls) => Ok(Stream::Tls(Box::new(tls?))),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the TLS handshake took too long",
            )),
        }
    }

    /// True when the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Performs the server side of a TLS handshake on a plaintext stream
    /// (STARTTLS, STLS), with the same time limit as [`Stream::accept_tls`].
    pub async fn upgrade(self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<Stream> {
        match self {
            Stream::Plain(tcp) => Stream::accept_tls(acceptor, tcp).await,
            Stream::Tls(_) => Err(io::Error::other("the connection already uses TLS")),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn acceptor() -> tokio_rustls::TlsAcceptor {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("tls.pem");
        crate::net::tls::ensure_self_signed(&pem, &["localhost"]).unwrap();
        crate::net::tls::acceptor(&pem).unwrap()
    }

    #[tokio::test]
    async fn a_client_that_never_starts_its_handshake_is_let_go() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let limit = Duration::from_millis(200);
        // Bounded from outside too, so a missing limit fails instead of hanging.
        let result = tokio::time::timeout(
            limit * 50,
            Stream::accept_tls_within(&acceptor(), tcp, limit),
        )
        .await
        .expect("the handshake was not given up");
        assert_eq!(
            result.err().map(|e| e.kind()),
            Some(io::ErrorKind::TimedOut)
        );
        drop(silent);
    }
}
