//! An async driver for [`Secured`] (feature `tokio`).
//!
//! The handler stays synchronous and says what the driver should do next
//! through an [`Action`]: continue, wait (a failure delay / tarpit, during
//! which nothing is read), or close. Work that blocks (PAM, a remote auth
//! socket) belongs in the caller's own task before it answers the session;
//! for such servers drive `Secured` directly: it is a plain value.

use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mail_proto::Session;

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

/// Run one connection to the end (async version of
/// [`blocking::serve`](crate::blocking::serve)).
///
/// `stream` is usually a `tokio::net::TcpStream`. Returns `Ok(())` on a clean
/// end (session closed, `close_notify`, EOF, [`Action::Close`]), an
/// `InvalidData` error wrapping the [`TlsError`](crate::TlsError) after a TLS
/// failure (the alert has been written), or the socket's error. Wrap the call
/// in `tokio::time::timeout` or add your own idle timer to bound idle peers.
pub async fn serve<T, S, H>(mut stream: T, mut secured: Secured<S>, mut handler: H) -> std::io::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Session,
    H: FnMut(&mut S, SecuredEvent<S::Event>) -> Action,
{
    let mut buf = vec![0u8; 16 * 1024];
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
        flush(&mut stream, &mut secured).await?;
        if secured.is_closed() {
            let _ = stream.shutdown().await;
            return Ok(());
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if let Err(error) = secured.receive(&buf[..n]) {
            let _ = flush(&mut stream, &mut secured).await;
            let _ = stream.shutdown().await;
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
        }
    }
}

async fn flush<T, S>(stream: &mut T, secured: &mut Secured<S>) -> std::io::Result<()>
where
    T: AsyncWrite + Unpin,
    S: Session,
{
    let out = secured.take_output();
    if !out.is_empty() {
        stream.write_all(&out).await?;
        stream.flush().await?;
    }
    Ok(())
}
