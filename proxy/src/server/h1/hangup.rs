//! Noticing that an HTTP/1.1 client hung up while its request waits in the queue.
//!
//! While a request waits, nothing reads its connection, and nothing may: the body stays
//! unread until dispatch. So the wait watches the socket's readiness instead of reading
//! it. The wait ends when the runtime reports the read side closed (the client's FIN, or a
//! reset); readiness for mere bytes (the body, a pipelined request) is cleared without
//! reading, and the watch goes on until the next event.
//!
//! The watch registers a duplicate of the connection's descriptor: the connection's own
//! registration belongs to its read half, shared with the body through a `RefCell`, and
//! awaiting its readiness would hold that borrow across the wait. The duplicate costs one
//! `dup` and one `epoll_ctl` per queued request, none for a request served at once.
//!
//! A client that shuts down only its sending side and still waits for the answer is taken
//! as gone, as nginx does by default; HTTP/1.1 clients do not do that in practice.

use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

/// A watch on a client connection, for as long as its request waits.
#[derive(Debug)]
pub struct HangUp {
    stream: TcpStream,
}

impl HangUp {
    /// Watches the connection `half` reads from; `None` if the descriptor cannot be
    /// duplicated (out of descriptors): the request then waits unwatched.
    pub(super) fn watch(half: &OwnedReadHalf) -> Option<HangUp> {
        let socket = socket2::SockRef::from(half.as_ref()).try_clone().ok()?;
        let stream = std::net::TcpStream::from(socket);
        // Already non-blocking (the flag belongs to the shared open file); set for clarity.
        stream.set_nonblocking(true).ok()?;
        let stream = TcpStream::from_std(stream).ok()?;
        Some(HangUp { stream })
    }

    /// Resolves once the client has closed the connection, or it failed.
    pub async fn closed(&self) {
        loop {
            match self.stream.ready(Interest::READABLE).await {
                Err(_) => return,
                Ok(ready) if ready.is_read_closed() => return,
                Ok(_) => {
                    // Bytes are waiting: leave them, and wait for the next event. A
                    // `WouldBlock` from `try_io` clears the readiness without a read.
                    let _ = self.stream.try_io(Interest::READABLE, || {
                        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
                    });
                }
            }
        }
    }
}
