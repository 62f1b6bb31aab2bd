//! An instance's stdout and stderr, forwarded to tidegate's log line by line.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use crate::fleet::InstanceId;

/// Longest line logged as one event; a longer one is logged in pieces of this size.
const MAX_LINE: u64 = 16 * 1024;

/// Logs each line of `stream` at info, under the target `tidegate::instance`, until the
/// stream ends (the process exited or closed it).
pub(super) async fn forward(
    stream: impl AsyncRead + Unpin,
    function: Arc<str>,
    instance: InstanceId,
    name: &'static str,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                tracing::info!(target: "tidegate::instance", function = %function, instance = %instance, stream = name, "{text}");
            }
        }
    }
}
