//! What every store and customer saw of every order, with when.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::oneshot;

/// One order's story as seen from outside.
#[derive(Debug, Default)]
pub struct Track {
    /// When its customer sent `POST /orders`, and got the answer.
    pub posted: Option<Instant>,
    pub answered: Option<Instant>,
    /// `stores_notified` of the answer.
    pub expected: Option<usize>,
    /// When each `offer` frame arrived (any store).
    pub offers: Vec<Instant>,
    /// When each store sent its accept, by store index.
    pub accept_sent: HashMap<usize, Instant>,
    /// Each winning answer (`accepted` frame or HTTP 200): the store, when
    /// its accept was sent, when the answer came.
    pub winners: Vec<(usize, Instant, Instant)>,
    /// When each pushed `offer_taken` arrived.
    pub taken: Vec<Instant>,
    /// Accepts answered, won or lost (HTTP answers, or WebSocket replies).
    pub accepts_answered: usize,
    done: Option<oneshot::Sender<()>>,
}

impl Track {
    fn complete(&self) -> bool {
        match self.expected {
            Some(n) => {
                self.offers.len() >= n
                    && !self.winners.is_empty()
                    && self.taken.len() + 1 >= n
                    && self.accepts_answered >= n
            }
            None => false,
        }
    }
}

#[derive(Default)]
pub struct Tracker {
    orders: Mutex<HashMap<String, Track>>,
    /// Frames received by the benchmark's sockets, by type; pushed ones
    /// (with an `event_id`) are `push:<type>`, one `PostToConnection` each.
    frames: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Tracker {
    fn update(&self, order_id: &str, f: impl FnOnce(&mut Track)) {
        let mut orders = lock(&self.orders);
        let track = orders.entry(order_id.to_string()).or_default();
        f(track);
        if track.complete()
            && let Some(done) = track.done.take()
        {
            let _ = done.send(());
        }
    }

    /// The customer's answer; `done` fires once every offered store has its
    /// offer, a store has won, every other one has `offer_taken`, and every
    /// store's accept is answered: the race is over only when its last
    /// loser has been told no, so an unloaded customer's next order does
    /// not share the stack with this one's refusals.
    pub fn posted(&self, order_id: &str, posted: Instant, answered: Instant, expected: usize) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.update(order_id, |t| {
            t.posted = Some(posted);
            t.answered = Some(answered);
            t.expected = Some(expected);
            t.done = Some(tx);
        });
        rx
    }

    pub fn offer(&self, order_id: &str, at: Instant) {
        self.update(order_id, |t| t.offers.push(at));
    }

    pub fn accept_sent(&self, order_id: &str, store: usize, at: Instant) {
        self.update(order_id, |t| {
            t.accept_sent.insert(store, at);
        });
    }

    /// A winning answer; `sent` when the caller knows it (HTTP), else the
    /// recorded accept time of that store.
    pub fn won(&self, order_id: &str, store: usize, sent: Option<Instant>, at: Instant) {
        self.update(order_id, |t| {
            let sent = sent.or_else(|| t.accept_sent.get(&store).copied()).unwrap_or(at);
            t.winners.push((store, sent, at));
        });
    }

    pub fn accept_answered(&self, order_id: &str) {
        self.update(order_id, |t| t.accepts_answered += 1);
    }

    pub fn taken(&self, order_id: &str, at: Instant) {
        self.update(order_id, |t| t.taken.push(at));
    }

    pub fn frame(&self, kind: String) {
        *lock(&self.frames).entry(kind).or_default() += 1;
    }

    pub fn take_frames(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *lock(&self.frames))
    }

    /// Runs `f` over the tracks of `ids` (missing ones skipped).
    pub fn with_tracks<R>(&self, ids: &[String], f: impl FnOnce(Vec<&Track>) -> R) -> R {
        let orders = lock(&self.orders);
        f(ids.iter().filter_map(|id| orders.get(id)).collect())
    }
}
