//! Text messages on the local stack: nothing leaves the machine. Each text
//! is written to the log (the sign-in code with it, so a developer can type
//! it; the number masked) and kept as the last text of its number, for the
//! local stack's development route and tests only.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::domain::customer::PhoneNumber;
use crate::ports::{TextFuture, TextMessages};

/// The local outbox: the last text sent to each number.
#[derive(Debug, Default)]
pub struct EmbeddedTexts {
    last: Mutex<HashMap<PhoneNumber, String>>,
}

impl EmbeddedTexts {
    /// The last text sent to `phone`, if any.
    #[must_use]
    pub fn last_text_to(&self, phone: &PhoneNumber) -> Option<String> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(phone)
            .cloned()
    }
}

impl TextMessages for EmbeddedTexts {
    fn send_text<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> TextFuture<'a> {
        Box::pin(async move {
            // Local only: the deployed adapter (SNS) never logs a text.
            tracing::info!(to = %to.masked(), text, "text message (local stack: not sent)");
            self.last
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(to.clone(), text.to_string());
            Ok(())
        })
    }
}
