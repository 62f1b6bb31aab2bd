//! Writing to a connection's write half without an intermediate buffer.
//!
//! Both sides keep a head and a body piece in separate buffers and hand them to the kernel
//! together (`writev`), so a small message costs one system call and no copy.

use std::io::{self, IoSlice};

use tokio::net::tcp::OwnedWriteHalf;

/// Writes every byte of `bufs`, waiting for the socket when it is full.
///
/// Takes `&OwnedWriteHalf` rather than `&mut`: the half is shared through an `Rc` by the
/// tasks that write on one connection (a request body and a response, or the two
/// directions of a tunnel), and `try_write_vectored` needs no exclusive access.
pub async fn write_all(write: &OwnedWriteHalf, bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    let mut remaining: usize = bufs.iter().map(|b| b.len()).sum();
    let mut bufs = &mut bufs[..];
    while remaining > 0 {
        match write.try_write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                remaining -= n;
                IoSlice::advance_slices(&mut bufs, n);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => write.writable().await?,
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
