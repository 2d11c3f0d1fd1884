//! The HTTP API (API Gateway HTTP API, payload format 2.0).

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::identity::http_caller;
use crate::app::App;
use crate::domain::customer::HomeItem;
use crate::domain::customer::PhoneNumber;
use crate::domain::demand::Language;
use crate::domain::demand::catalogue::Catalogue;
use crate::domain::demand::understanding::{DemandRequest, PictureLabel, Understood, VoiceInput, understand};
use crate::domain::demand::{DemandLineInput, demand_from_lines};
use crate::domain::demand::{Quantity, Unit};
use crate::domain::fulfilment::{PackOutcome, Paisa, PaymentMethod, Step, TimeSlot};
use crate::domain::geo::{GeoPoint, InvalidPoint};
use crate::domain::ids::{Caller, CustomerId, OrderId, StoreId};
use crate::domain::order::Order;
use crate::domain::store::DeliveryKind;
use crate::domain::store::{StorePatchInput, StoreProfileInput};
use crate::domain::views::{CustomerOrderView, ShareCard, ShareId, StoreOrderView};
use crate::ports::{OfferTimers, Pusher, Storage};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Every route of the HTTP API, as API Gateway route keys. The local gateway
/// routes with this list and the deployment template declares the same.
pub const HTTP_ROUTES: &[&str] = &[
    "GET /health",
    "GET /.well-known/openid-configuration",
    "GET /.well-known/jwks.json",
    "POST /auth/guest",
    "PUT /customers/me/phone",
    "POST /demand/parse",
    "POST /orders",
    "GET /orders/{order_id}",
    "POST /orders/{order_id}/cancel",
    "POST /orders/{order_id}/accept",
    "POST /orders/{order_id}/decline",
    "POST /orders/{order_id}/pack",
    "POST /orders/{order_id}/drop",
    "POST /orders/{order_id}/substitute",
    "POST /orders/{order_id}/delivery",
    "POST /orders/{order_id}/handover",
    "POST /orders/{order_id}/complete",
    "POST /orders/{order_id}/review",
    "POST /orders/{order_id}/store-cancel",
    "POST /orders/{order_id}/complaint",
    "POST /orders/{order_id}/complaint/answer",
    "POST /orders/{order_id}/share",
    "GET /share/{share_id}",
    "GET /customers/me/orders",
    "GET /customers/me/home",
    "PUT /customers/me/home/{item_key}",
    "DELETE /customers/me/home/{item_key}",
    "PUT /stores/{store_id}",
    "PATCH /stores/{store_id}",
    "GET /stores/{store_id}",
    "GET /stores/{store_id}/offers",
    "GET /stores/{store_id}/orders",
];

/// Routes anyone may call: no authorizer in front of them.
pub const PUBLIC_HTTP_ROUTES: &[&str] = &[
    "GET /health",
    "GET /.well-known/openid-configuration",
    "GET /.well-known/jwks.json",
    "POST /auth/guest",
    "GET /share/{share_id}",
];

/// Handles one HTTP API request. Never fails: every error is a response.
pub async fn handle_http_request<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    request: ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    if request.route_key.as_deref() == Some("GET /share/{share_id}") {
        return share_page(app, &request).await;
    }
    match route(app, &request).await {
        Ok((status, body)) => json_response(status, body),
        Err(e) => {
            let mut response = json_response(e.status, e.body());
            if let Some(seconds) = e.retry_after_s
                && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
            {
                response.headers.insert(http::header::RETRY_AFTER, value);
            }
            response
        }
    }
}

async fn route<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    request: &ApiGatewayV2httpRequest,
) -> Result<(u16, String), ApiError> {
    let route_key = request.route_key.as_deref().unwrap_or_default();
    match route_key {
        "GET /health" => return ok(200, &serde_json::json!({ "status": "ok" })),
        "GET /.well-known/openid-configuration" | "GET /.well-known/jwks.json" | "POST /auth/guest" => {
            return public_identity_route(app, route_key);
        }
        _ => {}
    }
    let body = request_body(request)?;
    let caller = http_caller(request)?;
    match route_key {
        "PUT /customers/me/phone" => {
            let customer = customer(caller)?;
            let input: PhoneInput = parse_body(body)?;
            let phone = PhoneNumber::new(&input.phone)
                .map_err(|e| ApiError::new(422, "invalid_phone", e.to_string()).with_field("phone"))?;
            app.attach_phone(&customer, &phone).await?;
            ok(
                200,
                &serde_json::json!({ "customer_id": customer, "phone": phone.masked() }),
            )
        }
        "POST /demand/parse" => {
            let input: DemandInput = parse_body(body)?;
            ok(200, &input.understood()?)
        }
        "POST /orders" => {
            let customer = customer(caller)?;
            let input: OrderInput = parse_body(body)?;
            let location = input.location.checked()?;
            let items = DemandInput {
                items: input.items,
                text: input.text,
                language: input.language,
                voice: input.voice,
                pictures: input.pictures,
            }
            .understood()?
            .items;
            let delivery = input.delivery.map(|d| (d.kind, d.slot));
            let order = app
                .create_order(&customer, items, location, delivery, input.payment)
                .await?;
            ok(201, &CustomerOrderView::of(&order))
        }
        "GET /orders/{order_id}" => match caller {
            // The winning store sees its order, with where to deliver.
            Some(Caller::Store(store)) => ok(200, &app.store_order(&store, &order_id(request)?).await?),
            caller => {
                let customer = customer(caller)?;
                let order = app.customer_order(&customer, &order_id(request)?).await?;
                ok(200, &CustomerOrderView::of(&order))
            }
        },
        "POST /orders/{order_id}/pack"
        | "POST /orders/{order_id}/drop"
        | "POST /orders/{order_id}/substitute"
        | "POST /orders/{order_id}/delivery"
        | "POST /orders/{order_id}/handover"
        | "POST /orders/{order_id}/complete"
        | "POST /orders/{order_id}/review"
        | "POST /orders/{order_id}/complaint"
        | "POST /orders/{order_id}/complaint/answer" => {
            let caller = caller.ok_or_else(ApiError::unauthenticated)?;
            let id = order_id(request)?;
            let step = step_of(route_key, body)?;
            let order = app.fulfil(&caller, &id, &step).await?;
            match caller {
                Caller::Store(store) => ok(200, &app.store_order(&store, &order.id).await?),
                Caller::Customer(_) => ok(200, &CustomerOrderView::of(&order)),
            }
        }
        "POST /orders/{order_id}/store-cancel" => {
            let Some(Caller::Store(store)) = caller else {
                return Err(only("stores"));
            };
            let input: AnswerInput = parse_body(body)?;
            let order = app.store_cancel(&store, &order_id(request)?, &input.text).await?;
            ok(
                200,
                &serde_json::json!({ "order_id": order.id, "status": order.status, "given_back": true }),
            )
        }
        "GET /stores/{store_id}/orders" => {
            let caller = caller.ok_or_else(ApiError::unauthenticated)?;
            let store = store_id(request)?;
            let (limit, before) = page(request)?;
            let orders = app.store_history(&caller, &store, limit, before.as_ref()).await?;
            let next = next_cursor(&orders, limit);
            let views: Vec<StoreOrderView> = orders.iter().map(|o| StoreOrderView::of(o, None)).collect();
            ok(200, &serde_json::json!({ "orders": views, "next_before": next }))
        }
        "POST /orders/{order_id}/share" => {
            let customer = customer(caller)?;
            let (share, card) = app.share_order(&customer, &order_id(request)?).await?;
            let url = public_url(request, &format!("/share/{share}"));
            ok(
                200,
                &serde_json::json!({
                    "share_id": share.to_string(),
                    "url": url,
                    "text": format!("{} {url}", card.text),
                    "store_name": card.store_name,
                    "items": card.items,
                }),
            )
        }
        "GET /customers/me/orders" => {
            let customer = customer(caller)?;
            let (limit, before) = page(request)?;
            let orders = app.customer_history(&customer, limit, before.as_ref()).await?;
            let next = next_cursor(&orders, limit);
            let views: Vec<CustomerOrderView> = orders.iter().map(CustomerOrderView::of).collect();
            ok(200, &serde_json::json!({ "orders": views, "next_before": next }))
        }
        "GET /customers/me/home" => {
            let customer = customer(caller)?;
            ok(200, &serde_json::json!({ "items": app.home(&customer).await? }))
        }
        "PUT /customers/me/home/{item_key}" => {
            let customer = customer(caller)?;
            let input: HomeItemInput = parse_body(body)?;
            let lines = [DemandLineInput {
                name: input.name,
                amount: input.amount,
                unit: input.unit,
            }];
            let item = demand_from_lines(&lines)
                .map_err(|e| ApiError::new(422, e.code(), e.to_string()))?
                .remove(0);
            let home_item = HomeItem::new(&item.name, &item.tag, item.quantity);
            let key = home_key(request)?;
            app.edit_home(&customer, &key, None).await?;
            app.edit_home(&customer, &home_item.key.clone(), Some(home_item))
                .await?;
            ok(200, &serde_json::json!({ "items": app.home(&customer).await? }))
        }
        "DELETE /customers/me/home/{item_key}" => {
            let customer = customer(caller)?;
            app.edit_home(&customer, &home_key(request)?, None).await?;
            ok(200, &serde_json::json!({ "items": app.home(&customer).await? }))
        }
        "POST /orders/{order_id}/cancel" => {
            let customer = customer(caller)?;
            let order = app.cancel_order(&customer, &order_id(request)?).await?;
            ok(200, &CustomerOrderView::of(&order))
        }
        "POST /orders/{order_id}/accept" => {
            let Some(Caller::Store(store_id)) = caller else {
                return Err(only("stores"));
            };
            let order = app.accept_offer(&store_id, &order_id(request)?).await?;
            ok(
                200,
                &serde_json::json!({
                    "order_id": order.id,
                    "status": order.status,
                    "items": order.items,
                    "version": order.version,
                }),
            )
        }
        "POST /orders/{order_id}/decline" => {
            let Some(Caller::Store(store_id)) = caller else {
                return Err(only("stores"));
            };
            let order = app.decline_offer(&store_id, &order_id(request)?).await?;
            ok(200, &serde_json::json!({ "order_id": order.id, "declined": true }))
        }
        "PUT /stores/{store_id}" => {
            let caller = caller.ok_or_else(ApiError::unauthenticated)?;
            let input: StoreProfileInput = parse_body(body)?;
            let store = app.register_store(&caller, store_id(request)?, input).await?;
            ok(200, &store)
        }
        "PATCH /stores/{store_id}" => {
            let caller = caller.ok_or_else(ApiError::unauthenticated)?;
            let patch: StorePatchInput = parse_body(body)?;
            let store = app.update_store(&caller, &store_id(request)?, patch).await?;
            ok(200, &store)
        }
        "GET /stores/{store_id}" => {
            let caller = caller.ok_or_else(ApiError::unauthenticated)?;
            ok(200, &app.own_store(&caller, &store_id(request)?).await?)
        }
        "GET /stores/{store_id}/offers" => {
            let caller = caller.ok_or_else(ApiError::unauthenticated)?;
            let offers = app.open_offers(&caller, &store_id(request)?).await?;
            ok(200, &serde_json::json!({ "offers": offers }))
        }
        _ => Err(ApiError::new(404, "no_such_route", "no such route")),
    }
}

/// The fulfilment step a route and body ask for.
fn step_of(route_key: &str, body: &str) -> Result<Step, ApiError> {
    Ok(match route_key {
        "POST /orders/{order_id}/pack" => {
            let input: PackInput = parse_body(body)?;
            Step::Pack {
                line: input.line,
                outcome: input.outcome()?,
            }
        }
        "POST /orders/{order_id}/drop" => {
            let input: LineInput = parse_body(body)?;
            Step::Drop { line: input.line }
        }
        "POST /orders/{order_id}/delivery" => {
            let input: DeliveryInput = parse_body(body)?;
            Step::ChooseDelivery {
                kind: input.kind,
                slot: input.slot,
            }
        }
        "POST /orders/{order_id}/substitute" => {
            let input: SubstituteAnswer = parse_body(body)?;
            Step::AnswerSubstitute {
                line: input.line,
                accept: input.accept,
            }
        }
        "POST /orders/{order_id}/handover" => Step::HandOver,
        "POST /orders/{order_id}/complaint" => {
            let input: ComplaintInput = parse_body(body)?;
            Step::Complain {
                text: input.text,
                wants_return: input.wants_return,
            }
        }
        "POST /orders/{order_id}/complaint/answer" => {
            let input: AnswerInput = parse_body(body)?;
            Step::AnswerComplaint { text: input.text }
        }
        "POST /orders/{order_id}/complete" => Step::Complete,
        _ => {
            let input: ReviewInput = parse_body(body)?;
            Step::Review {
                stars: input.stars,
                comment: input.comment,
            }
        }
    })
}

/// A history page: `limit` (default 20) and the `before` cursor, an order id.
fn page(request: &ApiGatewayV2httpRequest) -> Result<(usize, Option<OrderId>), ApiError> {
    let query = &request.query_string_parameters;
    let limit = query.first("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(20);
    let before = query
        .first("before")
        .map(|b| OrderId::new(b).map_err(|_| ApiError::new(400, "invalid_cursor", "before is an order id")))
        .transpose()?;
    Ok((limit, before))
}

/// The cursor of the next page, when this page was full.
fn next_cursor(orders: &[Order], limit: usize) -> Option<OrderId> {
    if orders.len() == limit.clamp(1, 50) {
        orders.last().map(|o| o.id.clone())
    } else {
        None
    }
}

fn home_key(request: &ApiGatewayV2httpRequest) -> Result<String, ApiError> {
    request
        .path_parameters
        .get("item_key")
        .filter(|k| !k.is_empty() && k.chars().count() <= 100 && !k.chars().any(char::is_control))
        .cloned()
        .ok_or_else(|| ApiError::new(400, "invalid_key", "a home item key is up to 100 characters"))
}

/// `{"line": 0, "outcome": "packed", "price": 9600}`,
/// `{"line": 1, "outcome": "partly_packed", "amount": "0.4", "unit": "kg", "price": 28000}`,
/// `{"line": 2, "outcome": "unavailable"}`; prices in paisa.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackInput {
    line: usize,
    outcome: String,
    #[serde(default)]
    price: Option<u64>,
    /// What is offered instead (`"outcome": "substitute"`).
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    amount: Option<rust_decimal::Decimal>,
    #[serde(default)]
    unit: Option<String>,
}

impl PackInput {
    fn outcome(&self) -> Result<PackOutcome, ApiError> {
        let price = || {
            self.price.map(Paisa).ok_or_else(|| {
                ApiError::new(422, "missing_price", "a packed line needs its price in paisa").with_field("price")
            })
        };
        match self.outcome.as_str() {
            "packed" => Ok(PackOutcome::Packed { price: price()? }),
            "partly_packed" => {
                let unit = self
                    .unit
                    .as_deref()
                    .and_then(Unit::from_word)
                    .ok_or_else(|| ApiError::new(422, "unknown_unit", "give the packed unit").with_field("unit"))?;
                let amount = self.amount.ok_or_else(|| {
                    ApiError::new(422, "missing_amount", "give the packed amount").with_field("amount")
                })?;
                Ok(PackOutcome::PartlyPacked {
                    quantity: Quantity { amount, unit },
                    price: price()?,
                })
            }
            "unavailable" => Ok(PackOutcome::Unavailable),
            "substitute" => {
                let quantity = match (self.amount, self.unit.as_deref()) {
                    (Some(amount), Some(unit)) => Some(Quantity {
                        amount,
                        unit: Unit::from_word(unit)
                            .ok_or_else(|| ApiError::new(422, "unknown_unit", "unknown unit").with_field("unit"))?,
                    }),
                    _ => None,
                };
                Ok(PackOutcome::Substitute {
                    name: self
                        .name
                        .clone()
                        .ok_or_else(|| ApiError::new(422, "missing_name", "name the substitute").with_field("name"))?,
                    quantity,
                    price: price()?,
                })
            }
            _ => {
                Err(ApiError::new(422, "unknown_outcome", "packed, partly_packed or unavailable").with_field("outcome"))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineInput {
    line: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubstituteAnswer {
    line: usize,
    accept: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryInput {
    kind: DeliveryKind,
    #[serde(default)]
    slot: Option<TimeSlot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComplaintInput {
    text: String,
    #[serde(default)]
    wants_return: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerInput {
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewInput {
    stars: u8,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HomeItemInput {
    name: String,
    #[serde(default)]
    amount: Option<rust_decimal::Decimal>,
    #[serde(default)]
    unit: Option<String>,
}

/// Token issuance and the keys API Gateway's JWT authorizer discovers.
fn public_identity_route<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    route_key: &str,
) -> Result<(u16, String), ApiError> {
    let issuer = app
        .issuer
        .as_ref()
        .ok_or_else(|| ApiError::new(404, "no_such_route", "this deployment issues no tokens"))?;
    match route_key {
        "GET /.well-known/openid-configuration" => ok(
            200,
            &serde_json::json!({
                "issuer": issuer.issuer(),
                "jwks_uri": format!("{}/.well-known/jwks.json", issuer.issuer().trim_end_matches('/')),
                "id_token_signing_alg_values_supported": ["ES256"],
            }),
        ),
        "GET /.well-known/jwks.json" => ok(200, &issuer.jwks()),
        _ => {
            let (customer_id, token) = app.new_guest()?;
            ok(201, &serde_json::json!({ "customer_id": customer_id, "token": token }))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneInput {
    phone: String,
}

fn ok(status: u16, value: &impl Serialize) -> Result<(u16, String), ApiError> {
    serde_json::to_string(value)
        .map(|body| (status, body))
        .map_err(|_| ApiError::new(500, "internal", "internal error"))
}

/// `GET /share/{share_id}`, public: the share card as JSON, or as a small
/// page for a browser (`Accept: text/html`), as a link opened from a chat.
async fn share_page<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    request: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let card = match request
        .path_parameters
        .get("share_id")
        .and_then(|raw| ShareId::parse(raw))
    {
        Some(share) => app.shared_order(&share).await.map_err(ApiError::from),
        None => Err(ApiError::new(404, "not_found", "share not found")),
    };
    let card = match card {
        Ok(card) => card,
        Err(e) => return shareable(json_response(e.status, e.body())),
    };
    let wants_html = request
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html {
        return shareable(match ok(200, &card) {
            Ok((status, body)) => json_response(status, body),
            Err(e) => json_response(e.status, e.body()),
        });
    }
    let mut response = json_response(200, share_html(&card));
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    shareable(response)
}

/// One URL answers JSON or HTML by `Accept`, so caches must key on it; the
/// link's secret is in the URL, so no referrer carries it onwards.
fn shareable(mut response: ApiGatewayV2httpResponse) -> ApiGatewayV2httpResponse {
    let headers = &mut response.headers;
    headers.insert(http::header::VARY, HeaderValue::from_static("Accept"));
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The share card as a page; every text is escaped (item and store names
/// come from people).
fn share_html(card: &ShareCard) -> String {
    let items: String = card
        .items
        .iter()
        .map(|item| format!("<li>{}</li>", escape_html(item)))
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{store}</title></head><body><h1>{store}</h1><p>{text}</p><ul>{items}</ul></body></html>",
        store = escape_html(&card.store_name),
        text = escape_html(&card.text),
    )
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The absolute URL of `path` on this API, as the client reached it
/// (`x-forwarded-proto`, the domain, and a named stage, which stays in
/// HTTP API paths); the bare path when the request does not say.
fn public_url(request: &ApiGatewayV2httpRequest, path: &str) -> String {
    let proto = match request.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) {
        Some("http") => "http",
        _ => "https",
    };
    let stage = match request.request_context.stage.as_deref() {
        Some(stage) if stage != "$default" && !stage.is_empty() => format!("/{stage}"),
        _ => String::new(),
    };
    match request.request_context.domain_name.as_deref() {
        Some(domain) if !domain.is_empty() => format!("{proto}://{domain}{stage}{path}"),
        _ => path.to_string(),
    }
}

fn json_response(status: u16, body: String) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(body));
    response
}

fn only(who: &str) -> ApiError {
    ApiError::new(403, "forbidden", format!("only {who} may do this"))
}

fn customer(caller: Option<Caller>) -> Result<CustomerId, ApiError> {
    match caller {
        Some(Caller::Customer(id)) => Ok(id),
        Some(Caller::Store(_)) => Err(only("customers")),
        None => Err(ApiError::unauthenticated()),
    }
}

fn order_id(request: &ApiGatewayV2httpRequest) -> Result<OrderId, ApiError> {
    request
        .path_parameters
        .get("order_id")
        .and_then(|raw| OrderId::new(raw.as_str()).ok())
        .ok_or_else(|| ApiError::new(404, "not_found", "order not found"))
}

fn store_id(request: &ApiGatewayV2httpRequest) -> Result<StoreId, ApiError> {
    request
        .path_parameters
        .get("store_id")
        .and_then(|raw| StoreId::new(raw.as_str()).ok())
        .ok_or_else(|| {
            ApiError::new(400, "invalid_id", "a store id is 1 to 64 of A-Z a-z 0-9 - _").with_field("store_id")
        })
}

fn request_body(request: &ApiGatewayV2httpRequest) -> Result<&str, ApiError> {
    if request.is_base64_encoded {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "send the body as application/json text",
        ));
    }
    let body = request.body.as_deref().unwrap_or_default();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            413,
            "body_too_large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(body)
}

fn parse_body<T: DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    if body.trim().is_empty() {
        return Err(ApiError::new(400, "missing_body", "this call needs a JSON body"));
    }
    serde_json::from_str(body).map_err(|e| {
        if e.is_data() {
            ApiError::new(400, "invalid_body", e.to_string())
        } else {
            ApiError::new(400, "invalid_json", "the body is not valid JSON")
        }
    })
}

/// A demand: structured lines (`items`), or anything the understanding
/// reads: typed `text`, a `voice` transcript, `pictures` labels (with an
/// optional `language` hint).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemandInput {
    #[serde(default)]
    items: Option<Vec<DemandLineInput>>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    language: Option<Language>,
    #[serde(default)]
    voice: Option<VoiceInput>,
    #[serde(default)]
    pictures: Vec<PictureLabel>,
}

impl DemandInput {
    fn understood(self) -> Result<Understood, ApiError> {
        let spoken = self.text.is_some() || self.voice.is_some() || !self.pictures.is_empty();
        let result = match (self.items, spoken) {
            (Some(lines), false) => demand_from_lines(&lines).map(|items| Understood {
                items,
                language: self.language.unwrap_or(Language::En),
                recipes: Vec::new(),
                flagged: Vec::new(),
            }),
            (None, true) => {
                let request = DemandRequest {
                    text: self.text,
                    language: self.language,
                    voice: self.voice,
                    pictures: self.pictures,
                };
                let catalogue =
                    Catalogue::builtin().map_err(|_| ApiError::new(503, "unavailable", "please try again shortly"))?;
                understand(&request, catalogue)
            }
            _ => {
                return Err(ApiError::new(
                    400,
                    "invalid_body",
                    "give either \"items\", or any of \"text\", \"voice\", \"pictures\"",
                ));
            }
        };
        result.map_err(|e| ApiError::new(422, e.code(), e.to_string()).with_field("items"))
    }
}

/// The order body: the demand (as in `DemandInput`) plus where to deliver.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderInput {
    #[serde(default)]
    items: Option<Vec<DemandLineInput>>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    language: Option<Language>,
    #[serde(default)]
    voice: Option<VoiceInput>,
    #[serde(default)]
    pictures: Vec<PictureLabel>,
    location: LocationInput,
    /// Optional: how the customer wants it, chosen with the order.
    #[serde(default)]
    delivery: Option<DeliveryInput>,
    /// How the customer pays; cash on delivery unless said.
    #[serde(default)]
    payment: PaymentMethod,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationInput {
    lat: f64,
    lng: f64,
}

impl LocationInput {
    fn checked(&self) -> Result<GeoPoint, ApiError> {
        GeoPoint::new(self.lat, self.lng).map_err(|e| {
            let field = match e {
                InvalidPoint::Latitude => "location.lat",
                InvalidPoint::Longitude => "location.lng",
            };
            ApiError::new(422, "invalid_location", e.to_string()).with_field(field)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_page_escapes_what_people_wrote() {
        let card = ShareCard {
            text: "I got <b>rice</b> & \"dal\"".into(),
            store_name: "Rahim's <script>".into(),
            items: vec!["1 kg <i>rice</i>".into()],
        };
        let page = share_html(&card);
        assert!(
            !page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"),
            "{page}"
        );
        assert!(page.contains("Rahim&#39;s &lt;script&gt;"), "{page}");
        assert!(page.contains("<li>1 kg &lt;i&gt;rice&lt;/i&gt;</li>"), "{page}");
        assert!(page.contains("&amp; &quot;dal&quot;"), "{page}");
    }
}
