//! An async driver for [`Secured`] (feature `tokio`).
//!
//! The handler stays synchronous and says what the driver should do next
//! through an [`Action`]: continue, wait (a failure delay / tarpit, during
//! which nothing is read), or close. Work that blocks (PAM, a remote auth
//! socket) belongs in the caller's own task before it answers the session;
//! for such servers drive `Secured` directly: it is a plain value.

use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mail_proto::{Farewell, Session};

use crate::{Secured, SecuredEvent};

/// What the async driver does after the handler saw an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Go on.
    Continue,
    /// Write pending output, then wait this long before handling anything
    /// else (e.g. SASL failure delay).
    Delay(Duration),
    /// Write pending output, then close the connection.
    Close,
}

/// Options of [`serve_with`].
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Close the connection when the peer sends nothing for this long
    /// (SMTP 300 s, POP3 600 s, IMAP 30 min are the usual values).
    pub idle_timeout: Option<Duration>,
    /// Bytes already read from the stream that belong to the session (e.g.
    /// what followed a PROXY protocol header in the same read).
    pub initial_input: Vec<u8>,
    /// When this turns `true` (the server's shutdown grace period is over),
    /// a connection waiting for input gets the session's
    /// [`Farewell::Shutdown`] words and is closed; `serve_with` returns
    /// `Ok(())`. A dropped sender changes nothing.
    pub shutdown: Option<::tokio::sync::watch::Receiver<bool>>,
}

/// Run one connection to the end (async version of
/// [`blocking::serve`](crate::blocking::serve)).
///
/// `stream` is usually a `tokio::net::TcpStream`. Returns `Ok(())` on a clean
/// end (session closed, `close_notify`, EOF, [`Action::Close`]), an
/// `InvalidData` error wrapping the [`TlsError`](crate::TlsError) after a TLS
/// failure (the alert has been written), or the socket's error. See
/// [`serve_with`] for idle timeouts.
pub async fn serve<T, S, H>(stream: T, secured: Secured<S>, handler: H) -> std::io::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Session,
    H: FnMut(&mut S, SecuredEvent<S::Event>) -> Action,
{
    serve_with(stream, secured, ServeOptions::default(), handler).await
}

/// [`serve`] with options: an idle timeout (the session's
/// [`Farewell::IdleTimeout`] words are written, then a `TimedOut` error is
/// returned), a shutdown signal, and input that was read before the session
/// started.
pub async fn serve_with<T, S, H>(
    mut stream: T,
    mut secured: Secured<S>,
    mut options: ServeOptions,
    mut handler: H,
) -> std::io::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Session,
    H: FnMut(&mut S, SecuredEvent<S::Event>) -> Action,
{
    // Idle connections dominate a mail server's memory: start with a small
    // read buffer and grow it only when a read fills it (a bulk transfer).
    let mut buf = vec![0u8; SMALL_READ];
    let mut pending_input = options.initial_input;
    loop {
        while let Some(event) = secured.next_event() {
            match handler(secured.session_mut(), event) {
                Action::Continue => {}
                Action::Delay(delay) => {
                    flush(&mut stream, &mut secured).await?;
                    ::tokio::time::sleep(delay).await;
                }
                Action::Close => {
                    flush(&mut stream, &mut secured).await?;
                    let _ = stream.shutdown().await;
                    return Ok(());
                }
            }
        }
        if flush(&mut stream, &mut secured).await? && !secured.is_closed() {
            // Writing may let the session go on with input it already holds:
            // ask for events again before blocking on a read.
            continue;
        }
        if secured.is_closed() {
            let _ = stream.shutdown().await;
            return Ok(());
        }
        let n = if !pending_input.is_empty() {
            let n = pending_input.len().min(buf.len());
            buf[..n].copy_from_slice(&pending_input[..n]);
            pending_input.drain(..n);
            n
        } else {
            match read_or_stop(&mut stream, &mut buf, options.idle_timeout, &mut options.shutdown).await {
                Ok(result) => result?,
                Err(reason) => {
                    secured.session_mut().farewell(reason);
                    // Bounded: a peer that reads nothing must not hold us.
                    let _ = ::tokio::time::timeout(FAREWELL_WRITE, async {
                        let _ = flush(&mut stream, &mut secured).await;
                        let _ = stream.shutdown().await;
                    })
                    .await;
                    return match reason {
                        Farewell::IdleTimeout => {
                            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle timeout"))
                        }
                        Farewell::Shutdown => Ok(()),
                    };
                }
            }
        };
        if n == 0 {
            return Ok(());
        }
        let filled = n == buf.len();
        if let Err(error) = secured.receive(&buf[..n]) {
            let _ = flush(&mut stream, &mut secured).await;
            let _ = stream.shutdown().await;
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
        }
        if filled && buf.len() < LARGE_READ {
            buf.resize(LARGE_READ, 0);
        }
    }
}

/// One read, unless the idle timeout or the shutdown signal comes first
/// (then `Err` says which).
async fn read_or_stop<T: AsyncRead + Unpin>(
    stream: &mut T,
    buf: &mut [u8],
    idle_timeout: Option<Duration>,
    shutdown: &mut Option<::tokio::sync::watch::Receiver<bool>>,
) -> Result<std::io::Result<usize>, Farewell> {
    let read = async {
        match idle_timeout {
            Some(limit) => ::tokio::time::timeout(limit, stream.read(buf))
                .await
                .map_err(|_| Farewell::IdleTimeout),
            None => Ok(stream.read(buf).await),
        }
    };
    match shutdown {
        Some(signal) => {
            let stop = async {
                // A dropped sender means no shutdown will come: wait on.
                if signal.wait_for(|stop| *stop).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            ::tokio::select! {
                result = read => result,
                () = stop => Err(Farewell::Shutdown),
            }
        }
        None => read.await,
    }
}

/// How long the farewell words may take to write.
const FAREWELL_WRITE: Duration = Duration::from_secs(5);

/// First read buffer of a connection (what an idle connection holds).
const SMALL_READ: usize = 4 * 1024;
/// Read buffer once a read has filled the small one.
const LARGE_READ: usize = 64 * 1024;

/// Write pending output; says whether there was any.
async fn flush<T, S>(stream: &mut T, secured: &mut Secured<S>) -> std::io::Result<bool>
where
    T: AsyncWrite + Unpin,
    S: Session,
{
    let out = secured.take_output();
    if out.is_empty() {
        return Ok(false);
    }
    stream.write_all(&out).await?;
    stream.flush().await?;
    Ok(true)
}
