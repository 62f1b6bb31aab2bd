//! The copy of a streaming answer that the cache keeps: the function's body is passed to
//! the client as it arrives, and copied here until it is complete.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::HeaderName;

use super::FunctionCache;
use super::collapse::Leader;
use super::store::Entry;

/// A copy of a streaming answer, stored once the body is complete. Dropped before then
/// (the client left, the body failed, it grew too large), it stores nothing; dropping it
/// releases the collapsed waiters either way.
pub struct Capture {
    cache: Arc<FunctionCache>,
    primary: String,
    vary: Vec<HeaderName>,
    request: HeaderMap,
    entry: Option<Entry>,
    chunks: BytesMut,
    _leader: Option<Leader>,
}

impl Capture {
    /// A capture that stores `entry` under `primary` (and its `vary` headers' values in
    /// `request`) once the body is in; `leader` is released when it is dropped.
    pub(super) fn new(
        cache: Arc<FunctionCache>,
        primary: String,
        vary: Vec<HeaderName>,
        request: HeaderMap,
        entry: Entry,
        leader: Option<Leader>,
    ) -> Self {
        Capture {
            cache,
            primary,
            vary,
            request,
            entry: Some(entry),
            chunks: BytesMut::new(),
            _leader: leader,
        }
    }

    /// Copies one piece of the body; false when the object outgrew the per-object limit
    /// (the capture should then be dropped).
    pub fn push(&mut self, data: &Bytes) -> bool {
        if (self.chunks.len() + data.len()) as u64 > self.cache.object_max {
            self.cache.collapser.not_storable(&self.primary);
            return false;
        }
        self.chunks.extend_from_slice(data);
        true
    }

    /// The body is complete: store the response.
    pub fn complete(mut self) {
        let Some(mut entry) = self.entry.take() else {
            return;
        };
        entry.body = std::mem::take(&mut self.chunks).freeze();
        let vary = std::mem::take(&mut self.vary);
        self.cache
            .store
            .insert(&self.primary, vary, &self.request, entry);
        // `self` drops here, after the insert: waiters woken now find the entry.
    }
}
