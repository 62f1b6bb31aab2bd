//! Where responses are kept: a moka cache weighed in bytes, shared by every worker thread.
//!
//! Each key maps to either a stored response or, for responses stored with `Vary`, the
//! list of varying headers; the variants then sit under keys that add the request's
//! values of those headers ([`super::key::variant_key`]). The list carries a generation
//! number that its variants repeat, so dropping the list (an invalidation) makes every
//! variant unreachable at once, and a later response with a different `Vary` starts a new
//! generation instead of mixing with the old one. Unreachable variants weigh until moka
//! evicts them; a purge removes them at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderName;
use http::{HeaderMap, StatusCode};
use moka::sync::Cache;
use tokio::time::Instant;

use super::freshness::Policy;
use super::key::variant_key;

/// One stored response, ready to be served by cloning.
#[derive(Debug)]
pub struct Entry {
    /// Its status.
    pub status: StatusCode,
    /// Its headers as stored: hop-by-hop, framing, `Age` and `x-request-id` removed.
    pub headers: HeaderMap,
    /// Its whole body.
    pub body: Bytes,
    /// When it was stored (tokio's clock).
    pub stored_at: Instant,
    /// Its age when stored (RFC 9111 §4.2.3 `corrected_initial_age`).
    pub initial_age: Duration,
    /// How long it is fresh and what it may be used for once stale.
    pub policy: Policy,
    /// Purge tags from `Cache-Tag` and `Surrogate-Key`.
    pub tags: Box<[Box<str>]>,
    /// The `Vary` generation it was stored under (0: no `Vary`).
    pub generation: u64,
    /// Set while a background refresh (`stale-while-revalidate`) is under way, so only
    /// one runs.
    pub refreshing: AtomicBool,
}

impl Entry {
    /// A response stored now, arriving with age zero, with no tags: for benches and tests.
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes, policy: Policy) -> Self {
        Entry {
            status,
            headers,
            body,
            stored_at: Instant::now(),
            initial_age: Duration::ZERO,
            policy,
            tags: Box::new([]),
            generation: 0,
            refreshing: AtomicBool::new(false),
        }
    }

    /// Its age now, by tokio's clock.
    pub fn current_age(&self) -> Duration {
        self.age(Instant::now())
    }

    /// Its current age (RFC 9111 §4.2.3 `current_age`).
    pub fn age(&self, now: Instant) -> Duration {
        self.initial_age + now.saturating_duration_since(self.stored_at)
    }

    /// Approximate bytes held: body, headers, and a fixed overhead for the structures.
    fn weight(&self, key: &str) -> u32 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 16).sum();
        (self.body.len() + headers + tags + key.len() + 256).min(u32::MAX as usize) as u32
    }
}

/// What a key maps to.
#[derive(Debug, Clone)]
pub enum Stored {
    /// A response.
    Response(Arc<Entry>),
    /// The headers a response stored under this key varies on.
    Vary(Arc<VaryList>),
}

/// The varying headers of a URL's stored variants.
#[derive(Debug)]
pub struct VaryList {
    /// Header names, lowercased.
    pub names: Vec<HeaderName>,
    /// Repeated by every variant stored under this list.
    pub generation: u64,
}

/// One function's stored responses.
pub struct Store {
    cache: Cache<Arc<str>, Stored>,
    next_generation: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl Store {
    /// A store holding at most `max_bytes` (by [`Entry`] weight), least recently used
    /// entries evicted first (moka's TinyLFU admission may also refuse a new entry that
    /// is unlikely to be used again).
    pub fn new(max_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &Arc<str>, value: &Stored| match value {
                Stored::Response(entry) => entry.weight(key),
                Stored::Vary(list) => (key.len() + list.names.len() * 32 + 64) as u32,
            })
            .build();
        Store {
            cache,
            next_generation: AtomicU64::new(1),
        }
    }

    /// The response stored for `primary`, selecting the variant by `request`'s headers.
    pub fn get(&self, primary: &str, request: &HeaderMap) -> Option<Arc<Entry>> {
        match self.cache.get(primary)? {
            Stored::Response(entry) => Some(entry),
            Stored::Vary(list) => {
                let key = variant_key(primary, list.generation, &list.names, request);
                match self.cache.get(key.as_str())? {
                    Stored::Response(entry) if entry.generation == list.generation => Some(entry),
                    _ => None,
                }
            }
        }
    }

    /// Whether `primary` holds a `Vary` list: a request that found no variant under it
    /// is a `vary-miss` rather than a `uri-miss` (RFC 9211 §2.2).
    pub fn varies(&self, primary: &str) -> bool {
        matches!(self.cache.get(primary), Some(Stored::Vary(_)))
    }

    /// Stores `entry` for `primary`; `vary` are the response's varying headers and
    /// `request` the request it answered. `entry.generation` is set here.
    pub fn insert(
        &self,
        primary: &str,
        vary: Vec<HeaderName>,
        request: &HeaderMap,
        mut entry: Entry,
    ) {
        if vary.is_empty() {
            entry.generation = 0;
            self.cache
                .insert(Arc::from(primary), Stored::Response(Arc::new(entry)));
            return;
        }
        // Keep the current list when it names the same headers, so sibling variants stay.
        let list = match self.cache.get(primary) {
            Some(Stored::Vary(list)) if list.names == vary => list,
            _ => {
                let list = Arc::new(VaryList {
                    names: vary,
                    generation: self.next_generation.fetch_add(1, Ordering::Relaxed),
                });
                self.cache
                    .insert(Arc::from(primary), Stored::Vary(list.clone()));
                list
            }
        };
        entry.generation = list.generation;
        let key = variant_key(primary, list.generation, &list.names, request);
        self.cache
            .insert(Arc::from(key), Stored::Response(Arc::new(entry)));
    }

    /// Drops what is stored for `primary` (its variants become unreachable).
    pub fn invalidate(&self, primary: &str) {
        self.cache.invalidate(primary);
    }

    /// Removes every stored response whose key and entry satisfy `matches`; returns how
    /// many responses were removed. Walks the whole store: for the admin API, not for
    /// the request path.
    pub fn purge(&self, matches: impl Fn(&str, &Entry) -> bool) -> usize {
        // Apply recent inserts first: iteration may not see writes still buffered.
        self.cache.run_pending_tasks();
        let mut purged = 0;
        let mut lists = Vec::new();
        for (key, value) in self.cache.iter() {
            match &value {
                Stored::Response(entry) if matches(&key, entry) => {
                    self.cache.invalidate(&**key);
                    purged += 1;
                }
                Stored::Response(_) => {}
                Stored::Vary(_) => lists.push(key),
            }
        }
        // A list whose variants are all gone is dropped too; a list is cheap to rebuild.
        for key in lists {
            let prefix = format!("{key}\n#");
            if self.cache.iter().all(|(k, _)| !k.starts_with(&prefix)) {
                self.cache.invalidate(&**key);
            }
        }
        self.cache.run_pending_tasks();
        purged
    }

    /// Bytes held (by weight), after applying pending evictions.
    pub fn bytes(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn entry(body: &'static str) -> Entry {
        Entry {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
            stored_at: Instant::now(),
            initial_age: Duration::ZERO,
            policy: Policy::default(),
            tags: Box::new([]),
            generation: 0,
            refreshing: AtomicBool::new(false),
        }
    }

    #[test]
    fn variants_are_selected_by_the_varying_headers() {
        let store = Store::new(1 << 20);
        let vary = vec![HeaderName::from_static("accept-language")];
        let mut fr = HeaderMap::new();
        fr.insert("accept-language", HeaderValue::from_static("fr"));
        let mut de = HeaderMap::new();
        de.insert("accept-language", HeaderValue::from_static("de"));
        store.insert("k", vary.clone(), &fr, entry("bonjour"));
        store.insert("k", vary, &de, entry("hallo"));
        assert_eq!(store.get("k", &fr).expect("fr stored").body, "bonjour");
        assert_eq!(store.get("k", &de).expect("de stored").body, "hallo");
        assert!(
            store.get("k", &HeaderMap::new()).is_none(),
            "no variant without the header"
        );
        store.invalidate("k");
        assert!(
            store.get("k", &fr).is_none(),
            "invalidation reaches every variant"
        );
    }

    #[test]
    fn purge_counts_and_removes() {
        let store = Store::new(1 << 20);
        store.insert("http://h/a", Vec::new(), &HeaderMap::new(), entry("a"));
        store.insert("http://h/b", Vec::new(), &HeaderMap::new(), entry("b"));
        assert_eq!(store.purge(|key, _| key.ends_with("/a")), 1);
        assert!(store.get("http://h/a", &HeaderMap::new()).is_none());
        assert!(store.get("http://h/b", &HeaderMap::new()).is_some());
    }

    #[test]
    fn bytes_are_bounded() {
        let store = Store::new(64 * 1024);
        let big = Bytes::from(vec![b'x'; 8 * 1024]);
        for i in 0..100 {
            let mut e = entry("");
            e.body = big.clone();
            store.insert(&format!("http://h/{i}"), Vec::new(), &HeaderMap::new(), e);
        }
        assert!(
            store.bytes() <= 64 * 1024,
            "weighted size stays under max_bytes"
        );
    }
}
