//! The promotion routes (offers from stores to opted-in buyers nearby):
//! their bodies, what the API document says of them, their errors and
//! their handlers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, Reply};
use super::http::{Call, ok};
use super::operation::{Operation, schema};
use super::requests::Placement;
use super::routes::HttpRoute;
use crate::domain::clock::Millis;
use crate::domain::demand::{DemandLineInput, demand_from_lines};
use crate::domain::ids::PromotionId;
use crate::domain::order::delivery::DeliveryAddress;
use crate::domain::order::money::Paisa;
use crate::domain::order::views::CustomerOrderView;
use crate::domain::promotion::{PromotionInput, PromotionRefusal, PromotionView};
use crate::ports::{OfferTimers, Pusher, Storage};
use crate::usecases::App;
use crate::usecases::ordering::OrderRequest;
use crate::usecases::promotions::{PromotionOrderError, SendPromotionError};

/// `PUT /customers/me/promotions/consent`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsentBody {
    /// `true` to receive offers from shops nearby for items you bought
    /// before; `false` stops them at once, for good until you opt in again.
    pub(crate) opted_in: bool,
}

/// `POST /stores/{store_id}/promotions`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromotionBody {
    /// The item, as a demand line: customers who bought it before receive
    /// the offer.
    pub(crate) item: DemandLineInput,
    /// The price in paisa (1 Taka = 100 paisa), more than 0.
    pub(crate) price: Paisa,
    /// Until when it holds (Unix milliseconds): in the future, at most 7
    /// days ahead.
    pub(crate) valid_until_ms: Millis,
}

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

/// What the API documents say of `PUT /customers/me/promotions/consent`.
pub(crate) fn consent_operation() -> Operation {
    Operation::new(
        "Opts the customer in to offers from shops nearby for items bought before, or out (at once: \
         no offer reaches them from then on).",
        200,
        schema::<PromotionConsentView>,
    )
    .reads(schema::<ConsentBody>)
}

/// What the API documents say of `GET /customers/me/promotions`.
pub(crate) fn list_operation() -> Operation {
    Operation::new(
        "The offers the customer received that are still valid (none once opted out); no shop is named.",
        200,
        schema::<CustomerPromotions>,
    )
}

/// What the API documents say of `POST /customers/me/promotions/{promotion_id}/order`.
pub(crate) fn order_operation() -> Operation {
    Operation::new(
        "Turns an offer into an order of its item: its shop is alerted alone first, then shops nearby \
         as usual. An offer past its time is refused (410 promotion_expired).",
        201,
        schema::<CustomerOrderView>,
    )
    .reads(schema::<Placement>)
    .rate_limited()
}

/// What the API documents say of `POST /stores/{store_id}/promotions`.
pub(crate) fn send_operation() -> Operation {
    Operation::new(
        "A store offers an item at a price until a time to opted-in customers nearby who bought it \
         before; it learns only how many received it. A few a day.",
        201,
        schema::<PromotionSent>,
    )
    .reads(schema::<PromotionBody>)
    .rate_limited()
}

impl From<PromotionRefusal> for ApiError {
    fn from(refusal: PromotionRefusal) -> Self {
        let status = match refusal {
            PromotionRefusal::StoreNotActive => 403,
            PromotionRefusal::Expired => 410,
            _ => 422,
        };
        let error = ApiError::new(status, refusal.code(), refusal.to_string());
        match refusal.field() {
            Some(field) => error.with_field(field),
            None => error,
        }
    }
}

impl From<SendPromotionError> for ApiError {
    fn from(e: SendPromotionError) -> Self {
        match e {
            SendPromotionError::Forbidden => ApiError::new(403, "forbidden", e.to_string()),
            SendPromotionError::UnknownStore => ApiError::new(404, "not_found", "store not found"),
            SendPromotionError::Refused(refusal) => refusal.into(),
            SendPromotionError::Limited { retry_after_ms } => ApiError {
                retry_after_s: Some(u64::try_from(retry_after_ms.max(0)).unwrap_or(0).div_ceil(1000).max(1)),
                ..ApiError::new(429, "rate_limited", e.to_string())
            },
            SendPromotionError::Unavailable(e) => e.into(),
        }
    }
}

impl From<PromotionOrderError> for ApiError {
    fn from(e: PromotionOrderError) -> Self {
        match e {
            PromotionOrderError::NotFound => ApiError::new(404, "not_found", "offer not found"),
            PromotionOrderError::Refused(refusal) => refusal.into(),
            PromotionOrderError::Place(e) => e.into(),
            PromotionOrderError::Unavailable(e) => e.into(),
        }
    }
}

pub(super) async fn answer<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    route: HttpRoute,
    call: &Call<'_>,
) -> Reply {
    match route {
        HttpRoute::PromotionConsent => {
            let customer = call.customer()?;
            let body: ConsentBody = call.body()?;
            let opted_in = app.promotions().set_consent(&customer, body.opted_in).await?;
            ok(200, &PromotionConsentView { opted_in })
        }
        HttpRoute::CustomerPromotions => {
            let list = app.promotions().list(&call.customer()?).await?;
            ok(
                200,
                &CustomerPromotions {
                    opted_in: list.opted_in,
                    promotions: list.promotions,
                },
            )
        }
        HttpRoute::OrderPromotion => order_promotion(app, call).await,
        HttpRoute::SendPromotion => {
            let body: PromotionBody = call.body()?;
            let item = demand_from_lines(std::slice::from_ref(&body.item))
                .map_err(|e| ApiError::new(422, e.code(), e.to_string()).with_field("item"))?
                .remove(0);
            let input = PromotionInput {
                item,
                price: body.price,
                valid_until_ms: body.valid_until_ms,
            };
            let sent = app.promotions().send(call.caller()?, &call.store_id()?, input).await?;
            ok(
                201,
                &PromotionSent {
                    promotion_id: sent.promotion_id,
                    recipients: sent.recipients,
                    valid_until_ms: sent.valid_until_ms,
                },
            )
        }
        _ => Err(ApiError::new(404, "no_such_route", "no such route")),
    }
}

async fn order_promotion<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let customer = call.customer()?;
    let id = call
        .request
        .path_parameters
        .get("promotion_id")
        .and_then(|raw| PromotionId::new(raw.as_str()).ok())
        .ok_or_else(|| ApiError::new(404, "not_found", "offer not found"))?;
    let placement: Placement = call.body()?;
    let location = placement.location.checked()?;
    let address = placement
        .address
        .map(DeliveryAddress::checked)
        .transpose()
        .map_err(|e| ApiError::new(422, "invalid_address", e.to_string()).with_field(e.field))?;
    let delivery = placement.delivery.map(|d| (d.kind, d.slot));
    let payment = placement.payment;
    let order = app
        .promotions()
        .order(&customer, &id, location, |item, location| OrderRequest {
            items: vec![item],
            location,
            delivery,
            payment,
            address,
        })
        .await?;
    ok(201, &CustomerOrderView::of(&order))
}
