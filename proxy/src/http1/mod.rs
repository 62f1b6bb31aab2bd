//! HTTP/1.1 message framing shared by tidegate's client-facing server
//! (`server::h1`) and its connections to instances (`forward::upstream`).
//!
//! Both sides read into a per-connection buffer and decode bodies the same way, by
//! `Content-Length` (read strictly: [`content_length()`]), chunked transfer coding, or
//! (responses only) the end of the connection (RFC 9112 §6). Both write through
//! [`write_all`], which hands a head and a body piece to the kernel in one call.

mod chunk;
mod content_length;
mod reader;
mod write;

pub use chunk::chunk_size_line;
pub use content_length::{InvalidLength, content_length};
pub use reader::{BodyError, Chunked, Framing, Reader};
pub use write::write_all;
