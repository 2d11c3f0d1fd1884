//! The use cases, one module per capability. Each capability borrows only
//! the ports it uses (its trait bounds say which), and each operation has
//! its own error type; the edges (HTTP, WebSocket, SQS) map those to
//! answers. [`App`] holds the ports, built once per process by
//! [`crate::wiring`], and hands out the capabilities.

pub mod connections;
pub mod console;
pub mod fulfilment;
pub mod home;
pub mod idempotency;
pub mod identity;
pub mod notices;
pub mod operators;
pub mod ordering;
pub mod promotions;
pub mod sharing;
pub mod sign_in;
pub mod stock;
pub mod stores;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::auth::TokenIssuer;
use crate::domain::clock::{Clock, Millis};
use crate::domain::config::{NotificationConfig, OrderingConfig};
use crate::domain::limits::Rate;
use crate::domain::sign_in::CodeHasher;
use crate::payments::PaymentPorts;
use crate::ports::{
    LimitRepo, Notifications, NotifyError, NotifyFuture, OfferTimers, Pusher, QueueError, RepoError, Storage,
    TextError, TextFuture, TextMessages,
};

pub use connections::{Connections, Notifier};
pub use console::Console;
pub use fulfilment::Fulfilment;
pub use home::Home;
pub use idempotency::Idempotency;
pub use identity::Identity;
pub use notices::Notices;
pub use operators::{Onboarding, Operators};
pub use ordering::{Ordering, RoundTimerOutcome};
pub use promotions::Promotions;
pub use sharing::Sharing;
pub use sign_in::SignIn;
pub use stock::Stock;
pub use stores::Stores;

/// What a use case leaves for after its answer: telling the parties,
/// receipts, statistics. Nothing in the answer depends on it, so an edge
/// sends the answer first and then runs it (on Lambda an internal
/// extension keeps the process awake until it is done: `wiring`).
#[must_use = "a followup does nothing until it is run"]
pub struct Followup<'a>(Pin<Box<dyn Future<Output = ()> + Send + 'a>>);

impl<'a> Followup<'a> {
    pub fn new(work: impl Future<Output = ()> + Send + 'a) -> Self {
        Followup(Box::pin(work))
    }

    /// Nothing left to do.
    pub fn none() -> Self {
        Followup::new(async {})
    }

    pub async fn run(self) {
        self.0.await;
    }
}

impl std::fmt::Debug for Followup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Followup")
    }
}

/// A failure that is not the caller's: storage or the timer queue could
/// not be reached. Logged, and shown to clients only as "try again".
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error(transparent)]
    Storage(#[from] RepoError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Lets `?` turn port failures into an operation's own `Unavailable` case.
macro_rules! unavailable_from_ports {
    ($($error:ty),+ $(,)?) => {$(
        impl From<$crate::ports::RepoError> for $error {
            fn from(e: $crate::ports::RepoError) -> Self {
                Self::Unavailable(e.into())
            }
        }
        impl From<$crate::ports::QueueError> for $error {
            fn from(e: $crate::ports::QueueError) -> Self {
                Self::Unavailable(e.into())
            }
        }
    )+};
}
pub(crate) use unavailable_from_ports;

/// How often a change is decided again after losing a race to another
/// write of the same order before the caller is told to retry.
const MAX_WRITE_ATTEMPTS: usize = 8;

fn kept_changing() -> RepoError {
    RepoError::msg("the order kept changing; try again")
}

/// Counts one event in the rate window under `key` at `now`: `Ok(Err(ms))`
/// when `rate` is spent (retry after `ms`). Every limit on how often
/// something may happen (guest tokens, sign-in codes, store applications)
/// is counted here, so concurrent requests cannot pass a limit together.
async fn count_in_window<R: LimitRepo>(
    repo: &R,
    key: &str,
    rate: Rate,
    now: Millis,
) -> Result<Result<(), Millis>, RepoError> {
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let window = repo.rate_window(key).await?;
        let next = match window.value.take(now, rate) {
            Ok(next) => next,
            Err(retry_after_ms) => return Ok(Err(retry_after_ms)),
        };
        if repo.replace_rate_window(key, window.version, &next).await? {
            return Ok(Ok(()));
        }
    }
    Err(kept_changing())
}

/// The ports and configuration of one process.
pub struct App<S, Q, P> {
    storage: S,
    timers: Q,
    pusher: P,
    clock: Arc<dyn Clock>,
    config: OrderingConfig,
    payments: PaymentPorts,
    issuer: Option<Arc<TokenIssuer>>,
    texts: Arc<dyn TextMessages>,
    code_hasher: CodeHasher,
    notifications: Arc<dyn Notifications>,
    notification_config: NotificationConfig,
    /// How crowded places were at this process's last matches there.
    crowds: std::sync::Mutex<crate::domain::matching::CrowdMemory>,
}

/// A deployment that sends no texts: asking for a sign-in code answers
/// 503 until [`App::with_texts`] names a sender.
struct NoTexts;

impl TextMessages for NoTexts {
    fn send_text<'a>(&'a self, _to: &'a crate::domain::customer::PhoneNumber, _text: &'a str) -> TextFuture<'a> {
        Box::pin(async { Err(TextError("this deployment sends no text messages".into())) })
    }
}

/// A deployment that sends no notifications: each one is logged as not
/// sent, and registering a device answers 503.
struct NoNotifications;

impl Notifications for NoNotifications {
    fn send_sms<'a>(&'a self, _to: &'a crate::domain::customer::PhoneNumber, _text: &'a str) -> NotifyFuture<'a, ()> {
        Box::pin(async { Err(NotifyError("this deployment sends no notifications".into())) })
    }

    fn register_device<'a>(
        &'a self,
        _token: &'a crate::domain::notification::DeviceToken,
    ) -> NotifyFuture<'a, crate::domain::notification::Device> {
        Box::pin(async { Err(NotifyError("this deployment sends no notifications".into())) })
    }

    fn push_to_device<'a>(
        &'a self,
        _device: &'a crate::domain::notification::Device,
        _payload: &'a str,
    ) -> NotifyFuture<'a, ()> {
        Box::pin(async { Err(NotifyError("this deployment sends no notifications".into())) })
    }
}

impl<S: Storage, Q: OfferTimers, P: Pusher> App<S, Q, P> {
    /// Takes cash on delivery and issues no tokens until told otherwise.
    pub fn new(storage: S, timers: Q, pusher: P, clock: Arc<dyn Clock>, config: OrderingConfig) -> Self {
        App {
            storage,
            timers,
            pusher,
            clock,
            config,
            payments: PaymentPorts::cash_on_delivery(),
            issuer: None,
            texts: Arc::new(NoTexts),
            // Replaced by the deployment's pepper where codes must outlive
            // one process (`with_code_hasher`).
            code_hasher: CodeHasher::new(b"unset"),
            notifications: Arc::new(NoNotifications),
            notification_config: NotificationConfig::default(),
            crowds: std::sync::Mutex::default(),
        }
    }

    /// Where receipts and offer pushes go (SNS on AWS, a local record on
    /// the local stack), and what they link to.
    #[must_use]
    pub fn with_notifications(mut self, notifications: Arc<dyn Notifications>, config: NotificationConfig) -> Self {
        self.notifications = notifications;
        self.notification_config = config;
        self
    }

    /// Where sign-in codes are sent (SNS on AWS, the log locally).
    #[must_use]
    pub fn with_texts(mut self, texts: Arc<dyn TextMessages>) -> Self {
        self.texts = texts;
        self
    }

    /// How sign-in codes are digested: the deployment's pepper.
    #[must_use]
    pub fn with_code_hasher(mut self, hasher: CodeHasher) -> Self {
        self.code_hasher = hasher;
        self
    }

    #[must_use]
    pub fn with_payments(mut self, payments: PaymentPorts) -> Self {
        self.payments = payments;
        self
    }

    /// The process that signs tokens (the HTTP function, the local stack).
    #[must_use]
    pub fn with_issuer(mut self, issuer: Arc<TokenIssuer>) -> Self {
        self.issuer = Some(issuer);
        self
    }

    /// The storage adapter, for start-up work (priming) and tests.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The timer adapter, for tests and the timer consumer's re-delivery.
    pub fn timers(&self) -> &Q {
        &self.timers
    }

    /// The push adapter, for tests.
    pub fn pusher(&self) -> &P {
        &self.pusher
    }

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    pub fn stores(&self) -> Stores<'_, S> {
        Stores {
            repo: &self.storage,
            now: self.now(),
        }
    }

    pub fn stock(&self) -> Stock<'_, S, P> {
        Stock {
            repo: &self.storage,
            notifier: self.notifier(),
            now: self.now(),
        }
    }

    pub fn ordering(&self) -> Ordering<'_, S, Q, P> {
        Ordering {
            repo: &self.storage,
            timers: &self.timers,
            notifier: self.notifier(),
            notices: self.notices(),
            config: &self.config,
            payments: &self.payments,
            clock: self.clock.as_ref(),
            crowds: &self.crowds,
        }
    }

    pub fn promotions(&self) -> Promotions<'_, S, Q, P> {
        Promotions {
            repo: &self.storage,
            notifier: self.notifier(),
            ordering: self.ordering(),
            config: &self.config,
            clock: self.clock.as_ref(),
        }
    }

    pub fn fulfilment(&self) -> Fulfilment<'_, S, P> {
        Fulfilment {
            repo: &self.storage,
            notifier: self.notifier(),
            notices: self.notices(),
            payments: &self.payments,
            clock: self.clock.as_ref(),
        }
    }

    pub fn sharing(&self) -> Sharing<'_, S, P> {
        Sharing {
            repo: &self.storage,
            fulfilment: self.fulfilment(),
        }
    }

    pub fn home(&self) -> Home<'_, S> {
        Home { repo: &self.storage }
    }

    pub fn idempotency(&self) -> Idempotency<'_, S> {
        Idempotency {
            repo: &self.storage,
            now: self.now(),
        }
    }

    pub fn identity(&self) -> Identity<'_, S> {
        Identity {
            repo: &self.storage,
            issuer: self.issuer.as_deref(),
            now: self.now(),
        }
    }

    pub fn sign_in(&self) -> SignIn<'_, S> {
        SignIn {
            repo: &self.storage,
            issuer: self.issuer.as_deref(),
            texts: self.texts.as_ref(),
            hasher: &self.code_hasher,
            now: self.now(),
        }
    }

    pub fn onboarding(&self) -> Onboarding<'_, S> {
        Onboarding {
            repo: &self.storage,
            now: self.now(),
        }
    }

    pub fn console(&self) -> Console<'_, S> {
        Console {
            repo: &self.storage,
            now: self.now(),
        }
    }

    pub fn operators(&self) -> Operators<'_, S, P> {
        Operators {
            repo: &self.storage,
            pusher: &self.pusher,
            now: self.now(),
        }
    }

    pub fn connections(&self) -> Connections<'_, S, P> {
        Connections {
            repo: &self.storage,
            notifier: self.notifier(),
            now: self.now(),
        }
    }

    pub fn notices(&self) -> Notices<'_, S> {
        Notices {
            repo: &self.storage,
            notifications: self.notifications.as_ref(),
            config: &self.notification_config,
            ordering: &self.config,
            now: self.now(),
        }
    }

    fn notifier(&self) -> Notifier<'_, S, P> {
        Notifier {
            connections: &self.storage,
            pusher: &self.pusher,
        }
    }
}
