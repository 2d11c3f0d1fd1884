//! One HTTP call as the route handlers read it: who calls, the body, the
//! path's ids and the order id an idempotent placement writes under.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, Reply};
use super::requests::parse_body;
use crate::domain::clock::Millis;
use crate::domain::ids::{Caller, CustomerId, OrderId, StoreId};

/// One authenticated call: the request, its body text and its caller.
pub(super) struct Call<'a> {
    pub(super) request: &'a ApiGatewayV2httpRequest,
    pub(super) body: &'a str,
    pub(super) caller: Option<Caller>,
    /// The id an idempotent placement writes its order under, the same on
    /// every retry with its key.
    pub(super) reserved_order_id: Option<OrderId>,
}

impl Call<'_> {
    pub(super) fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or_else(ApiError::unauthenticated)
    }

    pub(super) fn customer(&self) -> Result<CustomerId, ApiError> {
        match &self.caller {
            Some(Caller::Customer(id)) => Ok(id.clone()),
            Some(Caller::Store(_) | Caller::Operator(_)) => Err(only("customers")),
            None => Err(ApiError::unauthenticated()),
        }
    }

    pub(super) fn store(&self) -> Result<StoreId, ApiError> {
        match &self.caller {
            Some(Caller::Store(id)) => Ok(id.clone()),
            _ => Err(only("stores")),
        }
    }

    pub(super) fn body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_body(self.body)
    }

    pub(super) fn order_id(&self) -> Result<OrderId, ApiError> {
        self.request
            .path_parameters
            .get("order_id")
            .and_then(|raw| OrderId::new(raw.as_str()).ok())
            .ok_or_else(invalid_order_id)
    }

    /// The id a placement writes its order under: the one its idempotency
    /// key reserved (the same on every retry), or a fresh one.
    pub(super) fn order_id_to_place(&self) -> OrderId {
        self.reserved_order_id.clone().unwrap_or_else(OrderId::generate)
    }

    pub(super) fn store_id(&self) -> Result<StoreId, ApiError> {
        self.request
            .path_parameters
            .get("store_id")
            .and_then(|raw| StoreId::new(raw.as_str()).ok())
            .ok_or_else(|| {
                ApiError::new(400, "invalid_id", "a store id is 1 to 64 of A-Z a-z 0-9 - _").with_field("store_id")
            })
    }

    pub(super) fn home_key(&self) -> Result<String, ApiError> {
        self.request
            .path_parameters
            .get("item_key")
            .filter(|k| !k.is_empty() && k.chars().count() <= 100 && !k.chars().any(char::is_control))
            .cloned()
            .ok_or_else(|| ApiError::new(400, "invalid_key", "a home item key is up to 100 characters"))
    }

    /// A time in the query, in ms since the epoch, if given.
    pub(super) fn millis(&self, name: &'static str) -> Result<Option<Millis>, ApiError> {
        self.request
            .query_string_parameters
            .first(name)
            .map(|raw| {
                raw.parse::<Millis>().ok().filter(|ms| *ms >= 0).ok_or_else(|| {
                    ApiError::new(
                        400,
                        "invalid_time",
                        format!("{name} is a time in milliseconds since the epoch"),
                    )
                    .with_field(name)
                })
            })
            .transpose()
    }

    /// A list's `limit`: `default` if not given, else 1 to `most`.
    pub(super) fn limit(&self, default: usize, most: usize) -> Result<usize, ApiError> {
        match self.request.query_string_parameters.first("limit") {
            None => Ok(default),
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=most).contains(l))
                .ok_or_else(|| {
                    ApiError::new(400, "invalid_limit", format!("limit is 1 to {most}")).with_field("limit")
                }),
        }
    }

    /// A history page: `limit` (1 to [`PAGE_MOST`], default 20) and the
    /// `before` cursor, an order id.
    pub(super) fn page(&self) -> Result<(usize, Option<OrderId>), ApiError> {
        let limit = self.limit(20, PAGE_MOST)?;
        let before = self
            .request
            .query_string_parameters
            .first("before")
            .map(|b| {
                // A page's `next_before`: the id of an order, which is a ULID.
                // Anything else would silently read from the start.
                OrderId::new(b)
                    .ok()
                    // As a ULID writes itself: a lowercase one sorts after
                    // every order and would read from the start.
                    .filter(|id| ulid::Ulid::from_string(id.as_str()).is_ok_and(|u| u.to_string() == id.as_str()))
                    .ok_or_else(|| {
                        ApiError::new(400, "invalid_cursor", "before is a page's next_before").with_field("before")
                    })
            })
            .transpose()?;
        Ok((limit, before))
    }
}

/// The most orders a history page holds (the OpenAPI document's `limit`).
pub(super) const PAGE_MOST: usize = 50;

pub(super) fn ok(status: u16, value: &impl Serialize) -> Reply {
    serde_json::to_string(value)
        .map(|body| (status, body))
        .map_err(|_| ApiError::new(500, "internal", "internal error"))
}

/// An order id no order can have, in a path or a frame.
pub(super) fn invalid_order_id() -> ApiError {
    ApiError::new(400, "invalid_id", "an order id is 1 to 64 of A-Z a-z 0-9 - _").with_field("order_id")
}

pub(super) fn only(who: &str) -> ApiError {
    ApiError::new(403, "forbidden", format!("only {who} may do this"))
}
