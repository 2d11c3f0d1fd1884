//! The WebSocket API: `$connect`, `$disconnect`, and actions chosen by the
//! frame's `action` field (`$request.body.action`).

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use schemars::JsonSchema;
use serde::Deserialize;
use tracing::info;

use super::after::AfterAnswer;
use super::bodies::WsReply;
use super::error::ApiError;
use super::identity::ws_caller;
use crate::domain::ids::{Caller, ConnectionId, OrderId, StoreId};
use crate::ports::{OfferTimers, Pusher, Storage};
use crate::usecases::App;

/// Every route key the handler answers; the template declares the same.
pub const WS_ROUTES: &[&str] = &[
    "$connect",
    "$disconnect",
    "$default",
    "ping",
    "whoami",
    "sync",
    "accept",
];

/// Routes whose return value is sent back to the caller (they have a route
/// response in the template).
pub const WS_ROUTES_WITH_RESPONSE: &[&str] = &["$default", "ping", "whoami", "sync", "accept"];

/// The selection expression's field.
pub const ACTION_FIELD: &str = "action";

/// Handles one WebSocket route event, with everything that follows it done
/// before it returns.
pub async fn handle_ws_event<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    request: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let (response, after) = answer_ws_event(app, request).await;
    after.run().await;
    response
}

/// Handles one WebSocket route event and returns as soon as its answer is
/// known, with what is left to do after sending it (as
/// [`super::http::answer_http_request`]).
pub async fn answer_ws_event<'a, S: Storage, Q: OfferTimers, P: Pusher>(
    app: &'a App<S, Q, P>,
    request: ApiGatewayWebsocketProxyRequest,
) -> (ApiGatewayProxyResponse, AfterAnswer<'a>) {
    let after = AfterAnswer::default();
    let response = answer_route(app, &request, &after).await;
    (response, after)
}

async fn answer_route<'a, S: Storage, Q: OfferTimers, P: Pusher>(
    app: &'a App<S, Q, P>,
    request: &ApiGatewayWebsocketProxyRequest,
    after: &AfterAnswer<'a>,
) -> ApiGatewayProxyResponse {
    let route = request.request_context.route_key.as_deref().unwrap_or("$default");
    let Some(connection) = request
        .request_context
        .connection_id
        .as_deref()
        .and_then(|id| ConnectionId::new(id).ok())
    else {
        return respond(
            400,
            &ApiError::new(400, "no_connection", "missing connection id").body(),
        );
    };
    let result = match route {
        "$connect" => on_connect(app, request, connection).await,
        "$disconnect" => app
            .connections()
            .disconnect(&connection)
            .await
            .map(|()| String::new())
            .map_err(Into::into),
        action => {
            on_message(
                app,
                action,
                &connection,
                request.body.as_deref().unwrap_or_default(),
                after,
            )
            .await
        }
    };
    match result {
        Ok(body) => respond(200, &body),
        Err(e) if route == "$connect" => respond(e.status, &e.body()),
        // On a message route the answer is a frame, not a status.
        Err(e) => respond(200, &error_frame(e)),
    }
}

async fn on_connect<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    request: &ApiGatewayWebsocketProxyRequest,
    connection: ConnectionId,
) -> Result<String, ApiError> {
    let owner = ws_caller(request)?.ok_or_else(ApiError::unauthenticated)?;
    info!(connection = %connection, "socket connected");
    app.connections().connect(connection, owner).await?;
    Ok(String::new())
}

/// The `accept` action's frame beside its `action`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AcceptFrame {
    #[schemars(with = "OrderId")]
    order_id: String,
    /// Optional, one per tap: a retried accept with the same key gets the
    /// first reply and is not run again (8 to 64 of `A-Z a-z 0-9 - _`).
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// A frame a client sends: `action` chooses the route (the selection
/// expression `$request.body.action`). Describes the frames for the AsyncAPI
/// document; the handler reads `accept`'s fields as [`AcceptFrame`].
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Answered with `pong`.
    Ping,
    /// Answered with `whoami`: this socket's id and owner.
    Whoami,
    /// A store asks for its open offers again (after reconnecting): they
    /// come as `offer` events (new `event_id`s; the same `order_id` and
    /// `version`), then the answer `synced` with how many.
    Sync,
    /// A store accepts an offer, as `POST /orders/{order_id}/accept`;
    /// answered with `accepted` or an `error`.
    Accept(AcceptFrame),
}

async fn on_message<'a, S: Storage, Q: OfferTimers, P: Pusher>(
    app: &'a App<S, Q, P>,
    action: &str,
    connection: &ConnectionId,
    body: &str,
    after: &AfterAnswer<'a>,
) -> Result<String, ApiError> {
    let owner = app
        .connections()
        .owner(connection)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    match action {
        "ping" => Ok(WsReply::Pong.text()),
        // Which socket this is and whose: for support and debugging.
        "whoami" => Ok(WsReply::Whoami {
            caller: owner,
            connection_id: connection.clone(),
        }
        .text()),
        "sync" => {
            let resent = match &owner {
                Caller::Store(store) => app.connections().resend_offers(connection, store).await?,
                Caller::Customer(_) | Caller::Operator(_) => 0,
            };
            Ok(WsReply::Synced { offers_resent: resent }.text())
        }
        "accept" => {
            let Caller::Store(store) = owner else {
                return Err(ApiError::new(403, "forbidden", "only stores may do this"));
            };
            let frame: AcceptFrame = super::requests::parse_body(body)?;
            let named = frame.order_id.clone();
            // Every refusal of a frame that named its order says which.
            accept_frame(app, store, frame, after)
                .await
                .or_else(|e| Ok(error_frame_about(e, Some(named))))
        }
        // Not JSON at all: API Gateway routes it as it routes an unknown
        // action, but the client's mistake is another.
        _ if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(body) => {
            Err(super::requests::body_error("", &e))
        }
        _ => Err(ApiError::new(
            400,
            "unknown_action",
            "use an action of: ping, whoami, sync, accept",
        )),
    }
}

/// A store's `accept` frame: as `POST /orders/{order_id}/accept`, once per
/// idempotency key.
async fn accept_frame<'a, S: Storage, Q: OfferTimers, P: Pusher>(
    app: &'a App<S, Q, P>,
    store: StoreId,
    frame: AcceptFrame,
    after: &AfterAnswer<'a>,
) -> Result<String, ApiError> {
    let order_id = OrderId::new(frame.order_id).map_err(|_| super::call::invalid_order_id())?;
    let accept = async {
        match app
            .ordering()
            .accept_then(&store, &order_id)
            .await
            .map_err(ApiError::from)
        {
            Ok((order, followup)) => {
                after.add(followup);
                Ok((
                    200,
                    WsReply::Accepted {
                        order_id: order.id().clone(),
                        version: order.version(),
                    }
                    .text(),
                ))
            }
            // An outage is not an answer to keep: a retry runs again.
            Err(e) if e.status >= 500 => Err(e),
            Err(e) => Ok((e.status, error_frame_about(e, Some(order_id.as_str().to_string())))),
        }
    };
    let (_, reply) = match frame.idempotency_key {
        Some(raw) => {
            // In a frame the key is a field, not a header.
            let key = super::idempotent::key(&raw).map_err(|e| e.with_field("idempotency_key"))?;
            let scope = format!("ws#{}#{}", Caller::Store(store.clone()).key(), key.as_str());
            super::idempotent::once(app, &scope, order_id.as_str(), |_| accept).await?
        }
        None => accept.await?,
    };
    Ok(reply)
}

fn respond(status: u16, body: &str) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    if !body.is_empty() {
        response.body = Some(Body::Text(body.to_string()));
    }
    response
}

/// An error as a frame: on a message route the answer is a frame, not a
/// status.
fn error_frame(e: ApiError) -> String {
    error_frame_about(e, None)
}

/// [`error_frame`] for a frame that named `order_id`.
fn error_frame_about(e: ApiError, order_id: Option<String>) -> String {
    WsReply::Error {
        code: e.code,
        message: e.message,
        field: e.field,
        order_id,
    }
    .text()
}
