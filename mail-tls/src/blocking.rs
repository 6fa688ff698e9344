//! A blocking driver for [`Secured`]: one thread per connection, for small
//! example servers and tests.

use std::io::{self, Read, Write};

use mail_proto::Session;

use crate::{Secured, SecuredEvent};

/// Run one connection to the end.
///
/// Loop: dispatch every event to `handler` (which answers decisions through
/// the `&mut S` it is given, and may sleep for a `Delay`), write all output,
/// stop once the connection is closed, otherwise read more and feed it.
/// Returns `Ok(())` when the session or the peer closed the connection (EOF,
/// `close_notify`, `QUIT`), an `InvalidData` error wrapping the
/// [`TlsError`](crate::TlsError) after a TLS failure (the alert has been
/// written), or the socket's error. Set read/write timeouts on the stream
/// beforehand to bound idle connections.
///
/// `stream` is usually a `std::net::TcpStream` (or `&mut TcpStream`).
pub fn serve<T, S, H>(mut stream: T, mut secured: Secured<S>, mut handler: H) -> io::Result<()>
where
    T: Read + Write,
    S: Session,
    H: FnMut(&mut S, SecuredEvent<S::Event>),
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(event) = secured.next_event() {
            handler(secured.session_mut(), event);
        }
        let out = secured.take_output();
        if !out.is_empty() {
            stream.write_all(&out)?;
            stream.flush()?;
            // Writing may let the session go on with input it already holds
            // (it pauses pipelined commands while much output is pending):
            // ask for events again before blocking on a read.
            if !secured.is_closed() {
                continue;
            }
        }
        if secured.is_closed() {
            return Ok(());
        }
        // A session that wants no input yet has been given every answer by
        // the handler above; reading anyway keeps memory bounded by `buf`.
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Err(error) = secured.receive(&buf[..n]) {
            let out = secured.take_output();
            if !out.is_empty() {
                // Best effort: the peer may already be gone.
                let _ = stream.write_all(&out).and_then(|()| stream.flush());
            }
            return Err(io::Error::new(io::ErrorKind::InvalidData, error));
        }
    }
}
