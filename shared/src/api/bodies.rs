//! The bodies the HTTP and WebSocket APIs answer with, as types: the
//! handlers serialise these, and the API documents describe them (see
//! [`super::spec`]). Fields are declared in alphabetical order, the order
//! in which the `json!` objects they replace were written out.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use super::error::ApiError;
use crate::domain::clock::Millis;
use crate::domain::customer::HomeItem;
use crate::domain::demand::DemandItem;
use crate::domain::figures::{AreaHour, CellShape, CityEvent};
use crate::domain::geo::GeoPoint;
use crate::domain::ids::PromotionId;
use crate::domain::ids::{Caller, ConnectionId, CustomerId, OrderId, StoreId};
use crate::domain::order::views::{CustomerOrderView, OfferView, StoreOrderView};
use crate::domain::order::{AuditEntry, OrderStatus};
use crate::domain::promotion::PromotionView;
use crate::domain::store::{Store, StoreApplication, StoreStatus};

/// `GET /health`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// `GET /.well-known/openid-configuration`: where the token issuer's keys are.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OpenIdConfiguration {
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub issuer: String,
    pub jwks_uri: String,
}

/// `GET /.well-known/jwks.json`: the issuer's public keys (RFC 7517).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Jwks(#[schemars(with = "JwkSetSchema")] pub jsonwebtoken::jwk::JwkSet);

/// A JWK set as the schema describes it.
#[derive(JsonSchema)]
#[schemars(rename = "JwkSet")]
#[allow(dead_code)] // describes `JwkSet`, never built
struct JwkSetSchema {
    keys: Vec<JwkSchema>,
}

/// One public key: `kty` and the members of its key type.
#[derive(JsonSchema)]
#[schemars(rename = "Jwk")]
#[allow(dead_code)] // describes `Jwk`, never built
struct JwkSchema {
    kty: String,
    #[serde(flatten)]
    members: serde_json::Map<String, serde_json::Value>,
}

/// `POST /auth/guest`: a new guest customer, its bearer token (short-lived)
/// and a refresh token for the next ones.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GuestToken {
    pub customer_id: CustomerId,
    /// Seconds the bearer token lives.
    pub expires_in: i64,
    /// For `POST /auth/refresh`; replaced at each use.
    pub refresh_token: String,
    pub token: String,
}

/// `POST /auth/sign-in`: a code is on its way, whatever the number (the
/// answer never tells whether the number has an account).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CodeSent {
    /// Seconds the code may be used.
    pub expires_in: i64,
}

/// `POST /auth/sign-in/verify`, `POST /auth/refresh`, `POST /auth/upgrade`:
/// a session.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SignedIn {
    /// The bearer token for every other call.
    pub access_token: String,
    /// Who the tokens are for.
    pub caller: Caller,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// For `POST /auth/refresh` (and sign-out); replaced at each use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

/// `POST /auth/sign-out`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SignedOut {
    /// Always `true`.
    pub signed_out: bool,
}

/// `PUT /customers/me/phone`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PhoneAttached {
    pub customer_id: CustomerId,
    /// The number with its middle masked, e.g. `+88017*****678`.
    pub phone: String,
}

/// `PUT /customers/me/receipts`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReceiptSettings {
    /// Whether SMS receipts are sent (to a verified number).
    pub sms: bool,
}

/// `PUT /devices/me`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeviceRegistered {
    /// Always `true`.
    pub registered: bool,
}

/// `POST /orders/{order_id}/accept`: the store won the order.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Accepted {
    pub items: Vec<DemandItem>,
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub version: u64,
}

/// `POST /orders/{order_id}/decline`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Declined {
    /// Always `true`.
    pub declined: bool,
    pub order_id: OrderId,
}

/// `POST /orders/{order_id}/store-cancel`: the store gave the order back.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GivenBack {
    /// Always `true`.
    pub given_back: bool,
    pub order_id: OrderId,
    pub status: OrderStatus,
}

/// `POST /orders/{order_id}/share`: a public link to a completed order.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Shared {
    pub items: Vec<String>,
    pub share_id: String,
    pub store_name: String,
    /// A message to send, ending with the link.
    pub text: String,
    pub url: String,
}

/// An order as its caller sees it: the customer's view, or the winning
/// store's.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OrderView {
    Customer(CustomerOrderView),
    Store(StoreOrderView),
}

/// `GET /customers/me/orders`: a page of the customer's orders, newest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CustomerOrdersPage {
    /// The `before` of the next page; `null` on the last page.
    pub next_before: Option<OrderId>,
    pub orders: Vec<CustomerOrderView>,
}

/// `GET /stores/{store_id}/orders`: a page of the store's orders, newest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StoreOrdersPage {
    /// The `before` of the next page; `null` on the last page.
    pub next_before: Option<OrderId>,
    pub orders: Vec<StoreOrderView>,
}

/// The customer's home list.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Home {
    pub items: Vec<HomeItem>,
}

/// `GET /stores/{store_id}/offers`: offers the store may still accept.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Offers {
    pub offers: Vec<OfferView>,
}

/// `POST /store-applications`: recorded; an operator reviews it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApplicationReceived {
    /// `pending` until an operator approves the store.
    pub status: StoreStatus,
    /// The new store's id: once approved, its phone number signs in as
    /// this store.
    pub store_id: StoreId,
}

/// One application as operators review it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApplicationView {
    /// The customer who sent it.
    pub applicant: CustomerId,
    pub applied_at_ms: Millis,
    /// The number the store's staff will sign in with, in full (operators
    /// call it to check the shop).
    pub phone: String,
    /// The store as it applied (status `pending`).
    pub store: Store,
}

impl ApplicationView {
    #[must_use]
    pub fn of(application: StoreApplication) -> Self {
        ApplicationView {
            applicant: application.applicant,
            applied_at_ms: application.applied_at_ms,
            phone: application.phone.as_e164().to_string(),
            store: application.store,
        }
    }
}

/// `GET /operator/stores?status=pending`: applications, oldest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PendingStores {
    pub applications: Vec<ApplicationView>,
    /// The `after` of the next page; `null` on the last page.
    pub next_after: Option<StoreId>,
}

/// A store after an operator approved, suspended or reinstated it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StoreStanding {
    /// Sockets of the store that were closed (suspension; else 0).
    pub sockets_closed: usize,
    pub store: Store,
}

/// `GET /operator/orders/{order_id}/audit`: every change of the order,
/// oldest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrderAudit {
    /// The area (an H3 cell at resolution 7) the order was placed in.
    pub area: String,
    pub entries: Vec<AuditEntry>,
    pub order_id: OrderId,
    pub placed_at_ms: Millis,
    pub status: OrderStatus,
}

/// `GET /operator/figures`: figures per area and hour of placing.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FiguresAnswer {
    /// The shapes of the areas the rows name.
    pub areas: Vec<CellShape>,
    /// The first hour read (its start).
    pub from_ms: Millis,
    /// What the product promises from placing to fulfilment (30 minutes).
    pub promised_fulfilment_ms: Millis,
    /// One row per area and hour with orders, by hour then area.
    pub rows: Vec<AreaHour>,
    /// The end of the last hour read (exclusive).
    pub to_ms: Millis,
    /// True when the read stopped at its cap of orders: ask a shorter span.
    pub truncated: bool,
}

/// `GET /operator/activity`: what happened in the city after `since`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActivityAnswer {
    /// The shapes of the cells the events name.
    pub cells: Vec<CellShape>,
    /// Oldest first.
    pub events: Vec<CityEvent>,
    /// The server's time: the `since` of the next poll.
    pub now_ms: Millis,
}

/// The body of every 4xx and 5xx answer of the API's handlers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ApiError,
}

/// The body of a refusal by the gateway itself, before any handler: a
/// route miss (404), a missing or invalid token (401), a body over the
/// gateway's limit (413).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GatewayMessage {
    pub message: String,
}

/// A WebSocket reply: the answer to an action, sent back on the same socket.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WsReply {
    /// To `ping`.
    Pong,
    /// To `whoami`: which socket this is and whose.
    Whoami {
        caller: Caller,
        connection_id: ConnectionId,
    },
    /// To `sync`: how many open offers were sent again (0 for a customer).
    Synced { offers_resent: usize },
    /// To `accept`: the store won the order.
    Accepted { order_id: OrderId, version: u64 },
    /// Any action refused: the same codes as the HTTP API's errors, and
    /// the frame's field at fault where one is.
    Error {
        code: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        /// The order the refused frame named (an `accept`'s), so a store
        /// accepting several offers at once knows which one failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        order_id: Option<String>,
    },
}

impl WsReply {
    /// The frame's text.
    #[must_use]
    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `GeoPoint` (de)serialises as `{"lat", "lng"}`.
impl JsonSchema for GeoPoint {
    fn schema_name() -> Cow<'static, str> {
        "GeoPoint".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A WGS84 position in degrees.",
            "type": "object",
            "properties": {
                "lat": { "type": "number", "minimum": -90, "maximum": 90 },
                "lng": { "type": "number", "minimum": -180, "maximum": 180 }
            },
            "required": ["lat", "lng"]
        })
    }
}

/// A JSON document: `GET /openapi.json`, `GET /asyncapi.json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Document(#[schemars(with = "serde_json::Map<String, serde_json::Value>")] pub serde_json::Value);

/// `PUT /customers/me/promotions/consent`: the consent as written.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PromotionConsentView {
    pub opted_in: bool,
}

/// `GET /customers/me/promotions`: the consent and the offers still valid,
/// newest first; no shop is named until one accepts an order.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CustomerPromotions {
    pub opted_in: bool,
    pub promotions: Vec<PromotionView>,
}

/// `POST /stores/{store_id}/promotions`: how many customers received it;
/// never who, nor where.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PromotionSent {
    pub promotion_id: PromotionId,
    pub recipients: usize,
    pub valid_until_ms: Millis,
}
