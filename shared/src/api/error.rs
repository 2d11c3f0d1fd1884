//! Machine-readable errors: `{"error": {"code", "message", "field"?}}`.

use serde::Serialize;
use tracing::error;

use crate::app::AppError;
use crate::domain::fulfilment::StepRefusal;
use crate::domain::order::Refusal;
use crate::ports::PaymentError;

/// An error as a client sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header.
    #[serde(skip)]
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            field: None,
            retry_after_s: None,
        }
    }

    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// `{"error": {...}}`
    #[must_use]
    pub fn body(&self) -> String {
        serde_json::json!({ "error": self }).to_string()
    }

    pub fn unauthenticated() -> Self {
        ApiError::new(401, "unauthenticated", "this call needs a customer or store identity")
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid { code, message, field } => ApiError {
                status: 422,
                code: code.to_string(),
                message,
                field,
                retry_after_s: None,
            },
            AppError::Step(refusal) => {
                let status = match refusal {
                    StepRefusal::NotYours => 403,
                    StepRefusal::WrongState { .. } => 409,
                    StepRefusal::Invalid(_) | StepRefusal::DeliveryNotOffered(_) => 422,
                };
                ApiError::new(status, refusal.code(), refusal.to_string())
            }
            AppError::RateLimited { reason, retry_after_s } => ApiError {
                retry_after_s: Some(retry_after_s),
                ..ApiError::new(429, "rate_limited", reason)
            },
            AppError::NotFound { what } => ApiError::new(404, "not_found", format!("{what} not found")),
            AppError::Forbidden => ApiError::new(403, "forbidden", "not allowed for this caller"),
            AppError::Refused(r) => {
                let status = match r {
                    Refusal::NotOffered => 403,
                    Refusal::NotOwner => 404,
                    _ => 409,
                };
                ApiError::new(status, r.code(), r.to_string())
            }
            AppError::Storage(e) => {
                error!(error = %e, "storage failure");
                ApiError::new(503, "unavailable", "please try again shortly")
            }
            AppError::Queue(e) => {
                error!(error = %e, "queue failure");
                ApiError::new(503, "unavailable", "please try again shortly")
            }
            AppError::Payment(PaymentError::Declined(reason)) => {
                ApiError::new(402, "payment_declined", format!("payment declined: {reason}"))
            }
            AppError::Payment(e @ PaymentError::Unavailable(_)) => {
                error!(error = %e, "payment failure");
                ApiError::new(
                    503,
                    "payment_unavailable",
                    "the payment could not be taken; please try again shortly",
                )
            }
        }
    }
}
