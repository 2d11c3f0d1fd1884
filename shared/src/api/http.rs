//! The HTTP API (API Gateway HTTP API, payload format 2.0): the route key
//! is parsed once into an [`HttpRoute`], and each route has one small
//! handler; bodies are read by serde into the domain's own types.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::after::AfterAnswer;
use super::bodies::{
    Accepted, ActivityAnswer, ApplicationReceived, ApplicationView, CodeSent, CustomerOrdersPage, Declined,
    DeviceRegistered, Document, FiguresAnswer, GivenBack, GuestToken, Health, Home, Jwks, Offers, OpenIdConfiguration,
    OrderAudit, OrderView, PendingStores, PhoneAttached, ReceiptSettings, Shared, SignedIn, SignedOut, StoreOrdersPage,
    StoreStanding,
};
use super::call::{Call, ok, only};
use super::error::{ApiError, Reply, error_response, json_response};
use super::identity::http_caller;
use super::requests::{
    ComplaintBody, DeliveryBody, DemandInput, DeviceBody, LineBody, LocationInput, OrderBody, PackBody, PhoneBody,
    PhoneCodeBody, ReceiptsBody, RefreshBody, ReviewBody, SignOutBody, SubstituteAnswerBody, SuspendBody, TextBody,
    VerifyBody, from_value, one_line_refusal, parse_body,
};
use super::routes::HttpRoute;
use crate::domain::customer::{HomeItem, PhoneNumber};
use crate::domain::demand::{DemandLineInput, demand_from_lines};
use crate::domain::figures;
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::ids::{Caller, OrderId, StoreId};
use crate::domain::order::views::{CustomerOrderView, ShareCard, ShareId, StoreOrderView};
use crate::domain::order::{Order, Step};
use crate::domain::stock::StockInput;
use crate::domain::store::{StorePatchInput, StoreProfileInput};
use crate::ports::{OfferTimers, Pusher, Storage};
use crate::usecases::App;
use crate::usecases::identity::GuestSource;
use crate::usecases::sign_in::Session;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Handles one HTTP API request, with everything that follows it done
/// before it returns. Never fails: every error is a response.
pub async fn handle_http_request<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    request: ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let (response, after) = answer_http_request(app, request).await;
    after.run().await;
    response
}

/// Handles one HTTP API request and returns as soon as its answer is known,
/// with what is left to do after sending it (an accept's pushes, receipt
/// and statistics): the winner's answer waits for no push. Never fails:
/// every error is a response.
pub async fn answer_http_request<'a, S: Storage, Q: OfferTimers, P: Pusher>(
    app: &'a App<S, Q, P>,
    request: ApiGatewayV2httpRequest,
) -> (ApiGatewayV2httpResponse, AfterAnswer<'a>) {
    let after = AfterAnswer::default();
    let Some(route) = request.route_key.as_deref().and_then(HttpRoute::parse) else {
        return (
            error_response(&ApiError::new(404, "no_such_route", "no such route")),
            after,
        );
    };
    if route == HttpRoute::SharedOrder {
        return (share_page(app, &request).await, after);
    }
    if route == HttpRoute::WebApp {
        return (super::web::serve(&request, &stage_prefix(&request)), after);
    }
    let response = match answer(app, route, &request, &after).await {
        Ok((status, body)) => json_response(status, body),
        Err(e) => error_response(&e),
    };
    (response, after)
}

async fn answer<'a, S: Storage, Q: OfferTimers, P: Pusher>(
    app: &'a App<S, Q, P>,
    route: HttpRoute,
    request: &ApiGatewayV2httpRequest,
    after: &AfterAnswer<'a>,
) -> Reply {
    if route.is_public() {
        return public_route(app, route, request).await;
    }
    let call = Call {
        request,
        body: request_body(request)?,
        caller: http_caller(request)?,
        reserved_order_id: None,
    };
    match (idempotency_key(request)?, &call.caller) {
        (Some(key), Some(caller)) if route.method() != "GET" => {
            let scope = format!("{}#{}", caller.key(), key.as_str());
            let fingerprint = fingerprint(route, &call);
            super::idempotent::once(app, &scope, &fingerprint, |reserved| async move {
                let call = Call {
                    reserved_order_id: Some(reserved),
                    ..call
                };
                Box::pin(dispatch(app, route, &call, after)).await
            })
            .await
        }
        // Boxed: one route's future is large, and the runtime's stack is not.
        _ => Box::pin(dispatch(app, route, &call, after)).await,
    }
}

/// The `Idempotency-Key` header, if sent (a key per user action).
fn idempotency_key(request: &ApiGatewayV2httpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = request.headers.get("idempotency-key") else {
        return Ok(None);
    };
    super::idempotent::key(raw.to_str().unwrap_or_default()).map(Some)
}

/// A digest of what a request asks: its route, its path and its body. A
/// JSON body counts by what it says, not how it is spelled: a retry whose
/// encoder ordered the keys otherwise or spaced them differently asks the
/// same. (Keys taken before this counted the text: a retry across that
/// deploy of a request first sent before it is refused as reused.)
fn fingerprint(route: HttpRoute, call: &Call<'_>) -> String {
    let mut path: Vec<(&String, &String)> = call.request.path_parameters.iter().collect();
    path.sort();
    // A key given twice would be read as its last value alone: such a body
    // (refused anyway) counts by its text.
    let body = serde_json::from_str::<serde_json::Value>(call.body)
        .ok()
        .filter(|_| super::requests::is_json_without_repeated_keys(call.body))
        .map_or_else(
            || call.body.to_string(),
            |mut value| {
                value.sort_all_objects();
                value.to_string()
            },
        );
    let text = format!("{}\n{path:?}\n{body}", route.key());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

async fn dispatch<'a, S: Storage, Q: OfferTimers, P: Pusher>(
    app: &'a App<S, Q, P>,
    route: HttpRoute,
    call: &Call<'_>,
    after: &AfterAnswer<'a>,
) -> Reply {
    match route {
        HttpRoute::AttachPhone => attach_phone(app, call).await,
        HttpRoute::ReceiptSettings => {
            let customer = call.customer()?;
            let body: ReceiptsBody = call.body()?;
            app.notices().set_receipts_opt_out(&customer, !body.sms).await?;
            ok(200, &ReceiptSettings { sms: body.sms })
        }
        HttpRoute::RegisterDevice => {
            let caller = call.caller.clone().ok_or_else(ApiError::unauthenticated)?;
            let body: DeviceBody = call.body()?;
            app.notices().register_device(&caller, &body.token).await?;
            ok(200, &DeviceRegistered { registered: true })
        }
        HttpRoute::Upgrade => {
            let customer = call.customer()?;
            let body: PhoneCodeBody = call.body()?;
            let session = app
                .sign_in()
                .verify_phone(
                    &customer,
                    &phone(&body.phone)?,
                    &body.code,
                    &source_address(call.request),
                )
                .await?;
            ok(200, &signed_in(session))
        }
        HttpRoute::ParseDemand => ok(200, &call.body::<DemandInput>()?.understood()?),
        HttpRoute::PlaceOrder => place_order(app, call, after).await,
        HttpRoute::GetOrder => get_order(app, call).await,
        HttpRoute::CancelOrder => cancel_order(app, call).await,
        HttpRoute::AcceptOffer => accept_offer(app, call, after).await,
        HttpRoute::DeclineOffer => decline_offer(app, call).await,
        HttpRoute::Pack => {
            let body = PackBody::parse(call.body)?;
            take_step(
                app,
                call,
                Step::Pack {
                    line: body.line,
                    outcome: body.outcome,
                },
            )
            .await
        }
        HttpRoute::DropLine => {
            let body: LineBody = call.body()?;
            take_step(app, call, Step::Drop { line: body.line }).await
        }
        HttpRoute::AnswerSubstitute => {
            let body: SubstituteAnswerBody = call.body()?;
            take_step(
                app,
                call,
                Step::AnswerSubstitute {
                    line: body.line,
                    accept: body.accept,
                },
            )
            .await
        }
        HttpRoute::ChooseDelivery => {
            let body: DeliveryBody = call.body()?;
            take_step(
                app,
                call,
                Step::ChooseDelivery {
                    kind: body.kind,
                    slot: body.slot,
                },
            )
            .await
        }
        HttpRoute::HandOver => take_step(app, call, Step::HandOver).await,
        HttpRoute::Complete => take_step(app, call, Step::Complete).await,
        HttpRoute::Review => {
            let body: ReviewBody = call.body()?;
            take_step(
                app,
                call,
                Step::Review {
                    stars: body.stars,
                    comment: body.comment,
                },
            )
            .await
        }
        HttpRoute::Complain => {
            let body: ComplaintBody = call.body()?;
            take_step(
                app,
                call,
                Step::Complain {
                    text: body.text,
                    wants_return: body.wants_return,
                },
            )
            .await
        }
        HttpRoute::AnswerComplaint => {
            let body: TextBody = call.body()?;
            take_step(app, call, Step::AnswerComplaint { text: body.text }).await
        }
        HttpRoute::GiveBack => give_back(app, call).await,
        HttpRoute::ShareOrder => share_order(app, call).await,
        HttpRoute::CustomerHistory => customer_history(app, call).await,
        HttpRoute::Home => home(app, call).await,
        HttpRoute::ReplaceHomeItem => replace_home_item(app, call).await,
        HttpRoute::RemoveHomeItem => {
            let customer = call.customer()?;
            app.home().remove(&customer, &call.home_key()?).await?;
            home(app, call).await
        }
        HttpRoute::RegisterStore => {
            let body: StoreProfileInput = store_body(call)?;
            let store = app.stores().register(call.caller()?, call.store_id()?, body).await?;
            ok(200, &store)
        }
        HttpRoute::UpdateStore => {
            let body: StorePatchInput = store_body(call)?;
            let store = app.stores().update(call.caller()?, &call.store_id()?, body).await?;
            ok(200, &store)
        }
        HttpRoute::GetStore => ok(200, &app.stores().profile(call.caller()?, &call.store_id()?).await?),
        HttpRoute::StoreOffers => {
            let offers = app.stores().open_offers(call.caller()?, &call.store_id()?).await?;
            ok(200, &Offers { offers })
        }
        HttpRoute::StoreHistory => store_history(app, call).await,
        HttpRoute::GetStock => ok(200, &app.stock().counts(call.caller()?, &call.store_id()?).await?),
        HttpRoute::SetStock => {
            let body: StockInput = call.body()?;
            let stock = app.stock().recount(call.caller()?, &call.store_id()?, &body).await?;
            ok(200, &stock)
        }
        HttpRoute::PromotionConsent
        | HttpRoute::CustomerPromotions
        | HttpRoute::OrderPromotion
        | HttpRoute::SendPromotion => super::promotions::answer(app, route, call).await,
        HttpRoute::ApplyStore => apply_store(app, call).await,
        HttpRoute::PendingStores => pending_stores(app, call).await,
        HttpRoute::ApproveStore => {
            let changed = app.operators().approve(call.caller()?, &call.store_id()?).await?;
            ok(200, &standing(changed))
        }
        HttpRoute::SuspendStore => {
            let body: SuspendBody = call.body()?;
            let changed = app
                .operators()
                .suspend(call.caller()?, &call.store_id()?, &body.reason)
                .await?;
            ok(200, &standing(changed))
        }
        HttpRoute::ReinstateStore => {
            let changed = app.operators().reinstate(call.caller()?, &call.store_id()?).await?;
            ok(200, &standing(changed))
        }
        HttpRoute::OrderAudit => {
            let order = app.console().audit(call.caller()?, &call.order_id()?).await?;
            ok(
                200,
                &OrderAudit {
                    area: order.location().cell(figures::AREA_RESOLUTION).to_string(),
                    entries: order.audit().to_vec(),
                    order_id: order.id().clone(),
                    placed_at_ms: order.created_at_ms(),
                    status: order.status(),
                },
            )
        }
        HttpRoute::Figures => {
            let caller = call.caller()?;
            let (from, to) = (call.millis("from")?, call.millis("to")?);
            let read = app.console().figures(caller, from, to).await?;
            ok(
                200,
                &FiguresAnswer {
                    areas: read.areas,
                    from_ms: read.from_ms,
                    promised_fulfilment_ms: figures::PROMISED_FULFILMENT_MS,
                    rows: read.rows,
                    to_ms: read.to_ms,
                    truncated: read.truncated,
                },
            )
        }
        HttpRoute::Activity => {
            let caller = call.caller()?;
            let since = call.millis("since")?;
            let read = app.console().activity(caller, since).await?;
            ok(
                200,
                &ActivityAnswer {
                    cells: read.cells,
                    events: read.events,
                    now_ms: read.now_ms,
                },
            )
        }
        HttpRoute::Health
        | HttpRoute::OpenApi
        | HttpRoute::AsyncApi
        | HttpRoute::OpenIdConfiguration
        | HttpRoute::Jwks
        | HttpRoute::GuestToken
        | HttpRoute::SignInCode
        | HttpRoute::SignInVerify
        | HttpRoute::Refresh
        | HttpRoute::SignOut
        | HttpRoute::SharedOrder
        | HttpRoute::WebApp => public_route(app, route, call.request).await,
    }
}

/// The client's address as the gateway saw it (what limits per network
/// count by).
fn source_address(request: &ApiGatewayV2httpRequest) -> String {
    request
        .request_context
        .http
        .source_ip
        .clone()
        .unwrap_or_else(|| "unknown".to_string())
}

fn phone(raw: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::new(raw).map_err(|e| ApiError::new(422, "invalid_phone", e.to_string()).with_field("phone"))
}

fn signed_in(session: Session) -> SignedIn {
    SignedIn {
        access_token: session.access_token,
        caller: session.caller,
        expires_in: session.expires_in,
        refresh_token: session.refresh_token,
        token_type: "Bearer",
    }
}

/// Where a guest token request came from: the gateway's view of the
/// client's address, and the app's install id (`X-Device-Id`) if sent.
fn guest_source(request: &ApiGatewayV2httpRequest) -> Result<GuestSource, ApiError> {
    let address = source_address(request);
    let device = match request.headers.get("x-device-id") {
        None => None,
        Some(value) => {
            let id = value.to_str().ok().filter(|id| {
                (8..=64).contains(&id.len())
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            });
            Some(
                id.ok_or_else(|| {
                    ApiError::new(400, "invalid_device_id", "X-Device-Id is 8 to 64 of A-Z a-z 0-9 - _")
                        .with_field("X-Device-Id")
                })?
                .to_string(),
            )
        }
    };
    Ok(GuestSource { address, device })
}

/// Routes anyone may call: health, the API's own description, the token
/// issuer's keys, guest tokens and signing in.
async fn public_route<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    route: HttpRoute,
    request: &ApiGatewayV2httpRequest,
) -> Reply {
    let identity = app.identity();
    let no_tokens = || ApiError::new(404, "no_such_route", "this deployment issues no tokens");
    match route {
        HttpRoute::Health => ok(200, &Health { status: "ok" }),
        HttpRoute::OpenApi => ok(200, &Document(super::spec::openapi(&public_url(request, "")))),
        HttpRoute::AsyncApi => ok(200, &Document(super::spec::asyncapi())),
        HttpRoute::OpenIdConfiguration => {
            let issuer = identity.issuer().ok_or_else(no_tokens)?;
            ok(
                200,
                &OpenIdConfiguration {
                    issuer: issuer.issuer().to_string(),
                    jwks_uri: format!("{}/.well-known/jwks.json", issuer.issuer().trim_end_matches('/')),
                    id_token_signing_alg_values_supported: vec!["RS256"],
                },
            )
        }
        HttpRoute::Jwks => ok(200, &Jwks(identity.issuer().ok_or_else(no_tokens)?.jwks())),
        HttpRoute::GuestToken => {
            if identity.issuer().is_none() {
                return Err(no_tokens());
            }
            let (customer_id, token) = identity.new_guest(&guest_source(request)?).await?;
            let session = app.sign_in().guest_session(&customer_id).await?;
            ok(
                201,
                &GuestToken {
                    customer_id,
                    expires_in: session.expires_in,
                    refresh_token: session.refresh_token,
                    token,
                },
            )
        }
        HttpRoute::SignInCode => {
            if identity.issuer().is_none() {
                return Err(no_tokens());
            }
            let body: PhoneBody = parse_body(request_body(request)?)?;
            let expires_in = app
                .sign_in()
                .request_code(&phone(&body.phone)?, &source_address(request))
                .await?;
            ok(202, &CodeSent { expires_in })
        }
        HttpRoute::SignInVerify => {
            let body: VerifyBody = parse_body(request_body(request)?)?;
            let session = app
                .sign_in()
                .sign_in(&phone(&body.phone)?, &body.code, body.role, &source_address(request))
                .await?;
            ok(200, &signed_in(session))
        }
        HttpRoute::Refresh => {
            let body: RefreshBody = parse_body(request_body(request)?)?;
            ok(200, &signed_in(app.sign_in().refresh(&body.refresh_token).await?))
        }
        HttpRoute::SignOut => {
            let body: SignOutBody = parse_body(request_body(request)?)?;
            app.sign_in().sign_out(&body.refresh_token, body.everywhere).await?;
            ok(200, &SignedOut { signed_out: true })
        }
        _ => Err(ApiError::new(404, "no_such_route", "no such route")),
    }
}

/// Attaches a number the customer proved with its sign-in code (an
/// unverified number would let anyone put someone else's number on their
/// orders). For a guest this is the upgrade of `POST /auth/upgrade`,
/// without new tokens.
async fn attach_phone<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let customer = call.customer()?;
    let body: PhoneCodeBody = call.body()?;
    let phone = phone(&body.phone)?;
    app.sign_in()
        .verify_phone(&customer, &phone, &body.code, &source_address(call.request))
        .await?;
    ok(
        200,
        &PhoneAttached {
            customer_id: customer,
            phone: phone.masked(),
        },
    )
}

async fn place_order<'a, S: Storage, Q: OfferTimers, P: Pusher>(
    app: &'a App<S, Q, P>,
    call: &Call<'_>,
    after: &AfterAnswer<'a>,
) -> Reply {
    let customer = call.customer()?;
    let body = OrderBody::parse(call.body)?;
    let request = body.placement.into_request(body.demand.understood()?.items)?;
    // The stores are alerted after the customer has the answer.
    let (order, followup) = app
        .ordering()
        .place_then(&customer, request, call.order_id_to_place())
        .await?;
    after.add(followup);
    ok(201, &CustomerOrderView::of(&order))
}

async fn get_order<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let id = call.order_id()?;
    match &call.caller {
        // The winning store sees its order, with where to deliver.
        Some(Caller::Store(store)) => ok(200, &OrderView::Store(app.fulfilment().store_order(store, &id).await?)),
        Some(Caller::Customer(customer)) => {
            let order = app.ordering().customer_order(customer, &id).await?;
            ok(200, &OrderView::Customer(CustomerOrderView::of(&order)))
        }
        Some(Caller::Operator(_)) => Err(only("its customer and the store that won it")),
        None => Err(ApiError::unauthenticated()),
    }
}

async fn cancel_order<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let order = app.ordering().cancel(&call.customer()?, &call.order_id()?).await?;
    ok(200, &CustomerOrderView::of(&order))
}

async fn accept_offer<'a, S: Storage, Q: OfferTimers, P: Pusher>(
    app: &'a App<S, Q, P>,
    call: &Call<'_>,
    after: &AfterAnswer<'a>,
) -> Reply {
    let (order, followup) = app.ordering().accept_then(&call.store()?, &call.order_id()?).await?;
    after.add(followup);
    ok(
        200,
        &Accepted {
            items: order.items().to_vec(),
            order_id: order.id().clone(),
            status: order.status(),
            version: order.version(),
        },
    )
}

async fn decline_offer<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let order = app.ordering().decline(&call.store()?, &call.order_id()?).await?;
    ok(
        200,
        &Declined {
            declined: true,
            order_id: order.id().clone(),
        },
    )
}

/// A step after acceptance; the answer is the caller's own view.
async fn take_step<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>, step: Step) -> Reply {
    let caller = call.caller()?;
    let order = app.fulfilment().take(caller, &call.order_id()?, &step).await?;
    match caller {
        Caller::Store(store) => ok(
            200,
            &OrderView::Store(app.fulfilment().store_order(store, order.id()).await?),
        ),
        Caller::Customer(_) | Caller::Operator(_) => ok(200, &OrderView::Customer(CustomerOrderView::of(&order))),
    }
}

async fn give_back<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let store = call.store()?;
    let body: TextBody = call.body()?;
    let order = app.ordering().give_back(&store, &call.order_id()?, &body.text).await?;
    ok(
        200,
        &GivenBack {
            given_back: true,
            order_id: order.id().clone(),
            status: order.status(),
        },
    )
}

async fn share_order<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let customer = call.customer()?;
    let (share, card) = app.sharing().share(&customer, &call.order_id()?).await?;
    let url = public_url(call.request, &format!("/share/{share}"));
    ok(
        200,
        &Shared {
            items: card.items,
            share_id: share.to_string(),
            store_name: card.store_name,
            text: format!("{} {url}", card.text),
            url,
        },
    )
}

async fn customer_history<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let customer = call.customer()?;
    let (limit, before) = call.page()?;
    let orders = app.home().history(&customer, limit, before.as_ref()).await?;
    let views: Vec<CustomerOrderView> = orders.iter().map(CustomerOrderView::of).collect();
    ok(
        200,
        &CustomerOrdersPage {
            next_before: next_cursor(&orders, limit),
            orders: views,
        },
    )
}

async fn store_history<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let (limit, before) = call.page()?;
    let orders = app
        .stores()
        .history(call.caller()?, &call.store_id()?, limit, before.as_ref())
        .await?;
    let views: Vec<StoreOrderView> = orders.iter().map(|o| StoreOrderView::of(o, None)).collect();
    ok(
        200,
        &StoreOrdersPage {
            next_before: next_cursor(&orders, limit),
            orders: views,
        },
    )
}

async fn home<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let customer = call.customer()?;
    ok(
        200,
        &Home {
            items: app.home().items(&customer).await?,
        },
    )
}

async fn replace_home_item<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let customer = call.customer()?;
    let line: DemandLineInput = call.body()?;
    let item = demand_from_lines(std::slice::from_ref(&line))
        .map_err(|e| one_line_refusal(&e, ""))?
        .remove(0);
    let home_item = HomeItem::new(&item.name, &item.tag, item.quantity).in_bangla(item.name_bn.clone());
    let key = call.home_key()?;
    if home_item.key != key {
        // The key is the item's tag and unit: another item lives elsewhere.
        return Err(ApiError::new(
            422,
            "key_mismatch",
            format!(
                "this item's key is {}: PUT it at /customers/me/home/{}",
                home_item.key, home_item.key
            ),
        )
        .with_field("name"));
    }
    app.home().put(&customer, home_item).await?;
    home(app, call).await
}

fn standing(changed: crate::usecases::operators::StatusChanged) -> StoreStanding {
    StoreStanding {
        sockets_closed: changed.sockets_closed,
        store: changed.store,
    }
}

/// `POST /store-applications`: the phone number is read and checked as
/// `PUT /customers/me/phone` reads it, the rest as a store profile.
async fn apply_store<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let caller = call.caller()?;
    let mut fields: serde_json::Map<String, Value> = call.body()?;
    let phone = match fields.remove("phone") {
        Some(phone) => from_value::<PhoneBody>(serde_json::json!({ "phone": phone }))?.phone,
        None => return Err(ApiError::new(400, "invalid_body", "phone is required").with_field("phone")),
    };
    let profile: StoreProfileInput = store_value(Value::Object(fields))?;
    let phone =
        PhoneNumber::new(&phone).map_err(|e| ApiError::new(422, "invalid_phone", e.to_string()).with_field("phone"))?;
    let application = app.onboarding().apply(caller, phone, profile).await?;
    ok(
        202,
        &ApplicationReceived {
            status: application.store.status,
            store_id: application.store.id,
        },
    )
}

/// `GET /operator/stores?status=pending&limit=50&after=<store_id>`.
async fn pending_stores<S: Storage, Q: OfferTimers, P: Pusher>(app: &App<S, Q, P>, call: &Call<'_>) -> Reply {
    let caller = call.caller()?;
    let query = &call.request.query_string_parameters;
    if let Some(status) = query.first("status")
        && status != "pending"
    {
        return Err(ApiError::new(
            400,
            "invalid_status",
            "only status=pending is listed (stores awaiting approval)",
        )
        .with_field("status"));
    }
    let limit = call.limit(50, 100)?;
    let after = query
        .first("after")
        .map(|raw| {
            StoreId::new(raw)
                .map_err(|_| ApiError::new(400, "invalid_cursor", "after is a store id").with_field("after"))
        })
        .transpose()?;
    let applications = app.operators().pending(caller, limit, after.as_ref()).await?;
    let next_after = (applications.len() == limit)
        .then(|| applications.last().map(|a| a.store.id.clone()))
        .flatten();
    ok(
        200,
        &PendingStores {
            applications: applications.into_iter().map(ApplicationView::of).collect(),
            next_after,
        },
    )
}

/// A store profile body; its location is checked as an order's is, so the
/// same fault gets the same answer (422 `invalid_location`, naming the
/// field).
fn store_body<T: DeserializeOwned>(call: &Call<'_>) -> Result<T, ApiError> {
    store_value(call.body()?)
}

fn store_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if let Some(location) = value.get("location") {
        // Read in place, so its errors are named under `location` as an
        // order's are (also where the location as a whole is at fault).
        #[derive(serde::Deserialize)]
        struct StoreLocation {
            location: LocationInput,
        }
        from_value::<StoreLocation>(serde_json::json!({ "location": location }))?
            .location
            .checked()?;
    }
    from_value(value)
}

/// The cursor of the next page, when this page was full.
fn next_cursor(orders: &[Order], limit: usize) -> Option<OrderId> {
    if orders.len() == limit.clamp(1, 50) {
        orders.last().map(|o| o.id().clone())
    } else {
        None
    }
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
        Some(share) => app.sharing().shared_order(&share).await.map_err(ApiError::from),
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
            Err(e) => error_response(&e),
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
    let stage = stage_prefix(request);
    match request.request_context.domain_name.as_deref() {
        Some(domain) if !domain.is_empty() => format!("{proto}://{domain}{stage}{path}"),
        _ => path.to_string(),
    }
}

/// A named stage stays in HTTP API paths (`/prod/...`); `$default` has none.
fn stage_prefix(request: &ApiGatewayV2httpRequest) -> String {
    match request.request_context.stage.as_deref() {
        Some(stage) if stage != "$default" && !stage.is_empty() => format!("/{stage}"),
        _ => String::new(),
    }
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
    if !body.is_empty() && !is_json(request) {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "send the body with Content-Type: application/json",
        ));
    }
    Ok(body)
}

/// Whether the request says its body is JSON (`application/json`, with or
/// without parameters such as `charset`).
fn is_json(request: &ApiGatewayV2httpRequest) -> bool {
    request
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
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
