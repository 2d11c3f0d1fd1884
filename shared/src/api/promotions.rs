//! The promotion routes (offers from stores to opted-in buyers nearby):
//! their errors and their handlers (their bodies are in `requests` and
//! `bodies`, with every route's).

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use serde::Serialize;

use super::bodies::{CustomerPromotions, PromotionConsentView, PromotionSent};
use super::error::{ApiError, Reply};
use super::requests::{ConsentBody, Placement, PromotionBody, parse_body};
use super::routes::HttpRoute;
use crate::domain::demand::demand_from_lines;
use crate::domain::ids::{Caller, CustomerId, OrderId, PromotionId, StoreId};
use crate::domain::order::delivery::DeliveryAddress;
use crate::domain::order::views::CustomerOrderView;
use crate::domain::promotion::{PromotionInput, PromotionRefusal};
use crate::ports::{OfferTimers, Pusher, Storage};
use crate::usecases::App;
use crate::usecases::ordering::OrderRequest;
use crate::usecases::promotions::{PromotionOrderError, SendPromotionError};

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

/// One promotion call: the request, its body text and its caller (read by
/// `http`, which hands promotion routes here).
struct Call<'a> {
    request: &'a ApiGatewayV2httpRequest,
    body: &'a str,
    caller: Option<&'a Caller>,
}

impl Call<'_> {
    fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.ok_or_else(ApiError::unauthenticated)
    }

    fn customer(&self) -> Result<CustomerId, ApiError> {
        match self.caller {
            Some(Caller::Customer(id)) => Ok(id.clone()),
            Some(_) => Err(ApiError::new(403, "forbidden", "only customers may do this")),
            None => Err(ApiError::unauthenticated()),
        }
    }

    fn path_id<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        self.request.path_parameters.get(name).and_then(|raw| parse(raw))
    }
}

fn ok(status: u16, value: &impl Serialize) -> Reply {
    serde_json::to_string(value)
        .map(|body| (status, body))
        .map_err(|_| ApiError::new(500, "internal", "internal error"))
}

pub(super) async fn answer<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    route: HttpRoute,
    request: &ApiGatewayV2httpRequest,
    body: &str,
    caller: Option<&Caller>,
    reserved_order_id: Option<&OrderId>,
) -> Reply {
    let call = Call { request, body, caller };
    match route {
        HttpRoute::PromotionConsent => {
            let customer = call.customer()?;
            let body: ConsentBody = parse_body(call.body)?;
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
            let order_id = reserved_order_id.cloned().unwrap_or_else(OrderId::generate);
            order_promotion(app, &call, order_id).await
        }
        HttpRoute::SendPromotion => {
            let caller = call.caller()?;
            let store = call.path_id("store_id", |raw| StoreId::new(raw).ok()).ok_or_else(|| {
                ApiError::new(400, "invalid_id", "a store id is 1 to 64 of A-Z a-z 0-9 - _").with_field("store_id")
            })?;
            let body: PromotionBody = parse_body(call.body)?;
            let item = demand_from_lines(std::slice::from_ref(&body.item))
                .map_err(|e| ApiError::new(422, e.code(), e.to_string()).with_field("item"))?
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
        .path_id("promotion_id", |raw| PromotionId::new(raw).ok())
        .ok_or_else(|| ApiError::new(404, "not_found", "offer not found"))?;
    let placement: Placement = parse_body(call.body)?;
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
        .order(&customer, &id, order_id, location, |item, location| OrderRequest {
            items: vec![item],
            location,
            delivery,
            payment,
            address,
        })
        .await?;
    ok(201, &CustomerOrderView::of(&order))
}
