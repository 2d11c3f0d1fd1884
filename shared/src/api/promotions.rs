//! The promotion routes (offers from stores to opted-in buyers nearby):
//! their errors and their handlers (their bodies are in `requests` and
//! `bodies`, with every route's).

use super::bodies::{CustomerPromotions, PromotionConsentView, PromotionSent};
use super::call::{Call, ok};
use super::error::{ApiError, Reply};
use super::requests::{ConsentBody, Placement, PromotionBody};
use super::routes::HttpRoute;
use crate::domain::demand::demand_from_lines;
use crate::domain::ids::{OrderId, PromotionId};
use crate::domain::order::views::CustomerOrderView;
use crate::domain::promotion::{PromotionInput, PromotionRefusal};
use crate::ports::{OfferTimers, Pusher, Storage};
use crate::usecases::App;
use crate::usecases::promotions::{PromotionOrderError, SendPromotionError};

impl From<PromotionRefusal> for ApiError {
    fn from(refusal: PromotionRefusal) -> Self {
        let status = match refusal {
            PromotionRefusal::StoreNotActive => 403,
            PromotionRefusal::Expired => 410,
            _ => 422,
        };
        ApiError::new(status, refusal.code(), refusal.to_string()).with_field_if_any(refusal.field())
    }
}

impl From<SendPromotionError> for ApiError {
    fn from(e: SendPromotionError) -> Self {
        match e {
            SendPromotionError::Forbidden => ApiError::new(403, "forbidden", e.to_string()),
            SendPromotionError::UnknownStore => ApiError::new(404, "not_found", "store not found"),
            SendPromotionError::Refused(refusal) => refusal.into(),
            SendPromotionError::Limited(limit) => limit.into(),
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
        HttpRoute::OrderPromotion => {
            // As for `POST /orders`: a retry with the same idempotency key
            // places under the same order id, so it cannot place twice.
            order_promotion(app, call, call.order_id_to_place()).await
        }
        HttpRoute::SendPromotion => {
            let caller = call.caller()?;
            let store = call.store_id()?;
            let body: PromotionBody = call.body()?;
            let item = demand_from_lines(std::slice::from_ref(&body.item))
                .map_err(|e| super::requests::one_line_refusal(&e, "item"))?
                .remove(0);
            let input = PromotionInput {
                item,
                price: body.price,
                valid_until_ms: body.valid_until_ms,
            };
            let sent = app.promotions().send(caller, &store, input).await?;
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

async fn order_promotion<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    call: &Call<'_>,
    order_id: OrderId,
) -> Reply {
    let customer = call.customer()?;
    let id = call
        .request
        .path_parameters
        .get("promotion_id")
        .and_then(|raw| PromotionId::new(raw.as_str()).ok())
        .ok_or_else(|| ApiError::new(404, "not_found", "offer not found"))?;
    // The offer's item, placed as the body says.
    let placement = call.body::<Placement>()?.into_request(Vec::new())?;
    let order = app.promotions().order(&customer, &id, order_id, placement).await?;
    ok(201, &CustomerOrderView::of(&order))
}
