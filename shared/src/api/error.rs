//! Machine-readable errors: `{"error": {"code", "message", "field"?}}`.

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::ApiGatewayV2httpResponse;
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use serde::Serialize;
use tracing::error;

use crate::domain::limits::LimitReached;
use crate::domain::order::Refusal;
use crate::domain::store::{InvalidStore, StatusRefusal};
use crate::ports::PaymentError;
use crate::usecases::Unavailable;
use crate::usecases::connections::ConnectError;
use crate::usecases::console::ConsoleError;
use crate::usecases::fulfilment::{StepError, StoreOrderError};
use crate::usecases::identity::GuestError;
use crate::usecases::notices::DeviceError;
use crate::usecases::operators::{ApplyError, ListApplicationsError, StoreStatusError};
use crate::usecases::ordering::{AcceptError, CancelError, PlaceOrderError, ReadOrderError, StoreRoutingError};
use crate::usecases::sharing::{ShareError, SharedOrderError};
use crate::usecases::sign_in::{RefreshError, SignInError};
use crate::usecases::stock::StockError;
use crate::usecases::stores::{ReadStoreError, RegisterStoreError, StoreListError, UpdateStoreError};

/// A status and a JSON body, or the error to answer instead.
pub(crate) type Reply = Result<(u16, String), ApiError>;

/// An error as a client sees it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    /// Stable and machine-readable, e.g. `not_found`, `invalid_body`.
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// The request field at fault, when one is.
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

    /// [`Self::with_field`], where a field is at fault.
    #[must_use]
    pub fn with_field_if_any(self, field: Option<impl Into<String>>) -> Self {
        match field {
            Some(field) => self.with_field(field),
            None => self,
        }
    }

    /// `{"error": {...}}`
    #[must_use]
    pub fn body(&self) -> String {
        serde_json::json!({ "error": self }).to_string()
    }

    /// A fault of the service, not of the request: retry shortly.
    pub fn unavailable() -> Self {
        ApiError::new(503, "unavailable", "please try again shortly")
    }

    pub fn unauthenticated() -> Self {
        ApiError::new(401, "unauthenticated", "this call needs a customer or store identity")
    }
}

/// The answer to a refusal of the order state machine.
fn refused(refusal: Refusal) -> ApiError {
    let status = match refusal {
        Refusal::NotOffered | Refusal::NotYours => 403,
        Refusal::NotOwner => 404,
        Refusal::Invalid(_) | Refusal::InvalidField { .. } | Refusal::DeliveryNotOffered(_) => 422,
        _ => 409,
    };
    ApiError::new(status, refusal.code(), refusal.to_string()).with_field_if_any(refusal.field())
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(404, "not_found", format!("{what} not found"))
}

fn forbidden() -> ApiError {
    ApiError::new(403, "forbidden", "not allowed for this caller")
}

fn not_active() -> ApiError {
    ApiError::new(
        403,
        "store_not_active",
        "this store is pending approval or suspended; ask the operators",
    )
}

fn operators_only() -> ApiError {
    ApiError::new(403, "forbidden", "only operators may do this")
}

fn invalid_store(e: &InvalidStore) -> ApiError {
    ApiError::new(422, "invalid_store", e.to_string()).with_field(e.field)
}

impl From<Unavailable> for ApiError {
    fn from(e: Unavailable) -> Self {
        match e {
            Unavailable::Storage(e) => error!(error = %e, "storage failure"),
            Unavailable::Queue(e) => error!(error = %e, "queue failure"),
        }
        ApiError::unavailable()
    }
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::Declined(reason) => {
                ApiError::new(402, "payment_declined", format!("payment declined: {reason}"))
            }
            e @ PaymentError::Unavailable(_) => {
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

impl From<DeviceError> for ApiError {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::Invalid(e) => ApiError::new(422, "invalid_device_token", e.to_string()).with_field("token"),
            DeviceError::PushUnavailable(reason) => {
                error!(error = %reason, "push registration failed");
                ApiError::new(
                    503,
                    "push_unavailable",
                    "pushes cannot be registered now; please try again later",
                )
            }
            DeviceError::Unavailable(e) => e.into(),
        }
    }
}

impl From<PlaceOrderError> for ApiError {
    fn from(e: PlaceOrderError) -> Self {
        match e {
            PlaceOrderError::UnsupportedPayment(method) => ApiError::new(
                422,
                "unsupported_payment",
                format!("{} is not taken yet", method.as_str()),
            )
            .with_field("payment"),
            // Only the delivery chosen with the order is refused here:
            // its fields sit under `delivery`.
            PlaceOrderError::Refused(r) => refused(r).with_field_if_any(r.field().map(|f| format!("delivery.{f}"))),
            PlaceOrderError::Limited(limit) => limit.into(),
            PlaceOrderError::Unavailable(e) => e.into(),
        }
    }
}

impl From<LimitReached> for ApiError {
    fn from(limit: LimitReached) -> Self {
        ApiError {
            retry_after_s: Some(limit.retry_after_s()),
            ..ApiError::new(429, "rate_limited", limit.to_string())
        }
    }
}

impl From<ReadOrderError> for ApiError {
    fn from(e: ReadOrderError) -> Self {
        match e {
            ReadOrderError::NotFound => not_found("order"),
            ReadOrderError::Unavailable(e) => e.into(),
        }
    }
}

impl From<AcceptError> for ApiError {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::UnknownStore => not_found("store"),
            AcceptError::NotActive => not_active(),
            AcceptError::Refused(r) => refused(r),
            AcceptError::OutOfStock(short) => ApiError::new(
                409,
                "out_of_stock",
                format!("your stock counts cannot cover this order: {short}"),
            ),
            AcceptError::Unavailable(e) => e.into(),
        }
    }
}

impl From<StoreRoutingError> for ApiError {
    fn from(e: StoreRoutingError) -> Self {
        match e {
            StoreRoutingError::NotFound => not_found("order"),
            StoreRoutingError::Refused(r) => refused(r),
            StoreRoutingError::Unavailable(e) => e.into(),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound => not_found("order"),
            CancelError::Refused(r) => refused(r),
            CancelError::Unavailable(e) => e.into(),
        }
    }
}

impl From<StepError> for ApiError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::NotFound => not_found("order"),
            StepError::Refused(r) => refused(r),
            StepError::Payment(e) => e.into(),
            StepError::Unavailable(e) => e.into(),
        }
    }
}

impl From<StoreOrderError> for ApiError {
    fn from(e: StoreOrderError) -> Self {
        match e {
            StoreOrderError::NotFound => not_found("order"),
            StoreOrderError::NotWinner(r) => refused(r),
            StoreOrderError::Unavailable(e) => e.into(),
        }
    }
}

impl From<StockError> for ApiError {
    fn from(e: StockError) -> Self {
        match e {
            StockError::Forbidden => forbidden(),
            StockError::Invalid(e) => ApiError::new(422, "invalid_stock", e.to_string()).with_field(e.field),
            StockError::Unavailable(e) => e.into(),
        }
    }
}

impl From<RegisterStoreError> for ApiError {
    fn from(e: RegisterStoreError) -> Self {
        match e {
            RegisterStoreError::Forbidden => forbidden(),
            RegisterStoreError::Invalid(e) => invalid_store(&e),
            RegisterStoreError::Unavailable(e) => e.into(),
        }
    }
}

impl From<UpdateStoreError> for ApiError {
    fn from(e: UpdateStoreError) -> Self {
        match e {
            UpdateStoreError::Forbidden => forbidden(),
            UpdateStoreError::NotFound => not_found("store"),
            UpdateStoreError::Invalid(e) => invalid_store(&e),
            UpdateStoreError::Unavailable(e) => e.into(),
        }
    }
}

impl From<ReadStoreError> for ApiError {
    fn from(e: ReadStoreError) -> Self {
        match e {
            ReadStoreError::Forbidden => forbidden(),
            ReadStoreError::NotFound => not_found("store"),
            ReadStoreError::Unavailable(e) => e.into(),
        }
    }
}

impl From<StoreListError> for ApiError {
    fn from(e: StoreListError) -> Self {
        match e {
            StoreListError::Forbidden => forbidden(),
            StoreListError::NotActive => not_active(),
            StoreListError::Unavailable(e) => e.into(),
        }
    }
}

impl From<ShareError> for ApiError {
    fn from(e: ShareError) -> Self {
        match e {
            ShareError::NotFound => not_found("order"),
            ShareError::Refused(r) => refused(r),
            ShareError::Unavailable(e) => e.into(),
        }
    }
}

impl From<SharedOrderError> for ApiError {
    fn from(e: SharedOrderError) -> Self {
        match e {
            SharedOrderError::NotFound => not_found("share"),
            SharedOrderError::Unavailable(e) => e.into(),
        }
    }
}

impl From<GuestError> for ApiError {
    fn from(e: GuestError) -> Self {
        match e {
            GuestError::NoIssuer => not_found("token issuer"),
            GuestError::Limited(limit) => limit.into(),
            GuestError::Unavailable(e) => e.into(),
            e @ GuestError::Signing(_) => {
                error!(error = %e, "token signing failure");
                ApiError::unavailable()
            }
        }
    }
}

impl From<SignInError> for ApiError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::CodeInvalid => ApiError::new(
                401,
                "code_invalid",
                "the code is wrong, expired or used: ask for a new one",
            )
            .with_field("code"),
            SignInError::RoleNotHeld => {
                ApiError::new(
                    403,
                    "role_not_held",
                    "this number may not sign in as that role: a store's number signs in as a store once an operator has approved its application",
                )
                .with_field("role")
            }
            SignInError::PhoneHasAccount => ApiError::new(
                409,
                "phone_has_account",
                "this number already has an account: sign in with it (POST /auth/sign-in/verify)",
            )
            .with_field("phone"),
            SignInError::AlreadyVerified => ApiError::new(
                409,
                "phone_already_verified",
                "this customer already verified another number",
            )
            .with_field("phone"),
            SignInError::Limited(limit) => limit.into(),
            SignInError::NoIssuer => not_found("token issuer"),
            SignInError::Unavailable(e) => e.into(),
            e @ (SignInError::Signing(_) | SignInError::NotSent) => {
                error!(error = %e, "sign-in failure");
                ApiError::unavailable()
            }
        }
    }
}

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::StoreNotActive => not_active(),
            ConnectError::Unavailable(e) => e.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::Invalid => ApiError::new(
                401,
                "refresh_token_invalid",
                "the refresh token is expired, revoked or used: sign in again",
            )
            .with_field("refresh_token"),
            RefreshError::SignIn(e) => e.into(),
            RefreshError::Unavailable(e) => e.into(),
        }
    }
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Forbidden => ApiError::new(403, "forbidden", "only customers may apply for a store"),
            ApplyError::SignInRequired => ApiError::new(403, "sign_in_required", e.to_string()),
            ApplyError::Invalid(e) => invalid_store(&e),
            ApplyError::Limited(limit) => limit.into(),
            ApplyError::Unavailable(e) => e.into(),
        }
    }
}

impl From<ListApplicationsError> for ApiError {
    fn from(e: ListApplicationsError) -> Self {
        match e {
            ListApplicationsError::Forbidden => operators_only(),
            ListApplicationsError::Unavailable(e) => e.into(),
        }
    }
}

impl From<ConsoleError> for ApiError {
    fn from(e: ConsoleError) -> Self {
        match e {
            ConsoleError::Forbidden => operators_only(),
            ConsoleError::NotFound => not_found("order"),
            ConsoleError::InvalidRange { field, message } => {
                ApiError::new(400, "invalid_range", message).with_field(field)
            }
            ConsoleError::Unavailable(e) => e.into(),
        }
    }
}

impl From<StoreStatusError> for ApiError {
    fn from(e: StoreStatusError) -> Self {
        match e {
            StoreStatusError::Forbidden => operators_only(),
            StoreStatusError::NotFound => not_found("store"),
            StoreStatusError::Refused(refusal @ StatusRefusal::InvalidReason) => {
                ApiError::new(422, refusal.code(), refusal.to_string()).with_field("reason")
            }
            StoreStatusError::Refused(refusal) => ApiError::new(409, refusal.code(), refusal.to_string()),
            e @ StoreStatusError::PhoneHasStore => ApiError::new(409, "phone_has_store", e.to_string()),
            StoreStatusError::Unavailable(e) => e.into(),
        }
    }
}

/// An HTTP answer with a JSON body.
pub(super) fn json_response(status: u16, body: String) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(body));
    response
}

/// The answer for `e`: its JSON body, and `Retry-After` when it has one.
pub(super) fn error_response(e: &ApiError) -> ApiGatewayV2httpResponse {
    let mut response = json_response(e.status, e.body());
    if let Some(seconds) = e.retry_after_s
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers.insert(http::header::RETRY_AFTER, value);
    }
    response
}
