//! Every HTTP route as a type: parsed once from API Gateway's route key,
//! dispatched by `match`, and listed for the local gateway, the deployment
//! template's check and the OpenAPI document from this one table.

/// Declares the routes: variant, route key, and whether anyone may call it
/// (no authorizer in front).
macro_rules! http_routes {
    ($($(#[$doc:meta])* $route:ident => $key:literal $(, $public:ident)?;)+) => {
        /// One route of the HTTP API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HttpRoute {
            $($(#[$doc])* $route,)+
        }

        impl HttpRoute {
            /// Every route, in the order of the table.
            pub const ALL: &'static [HttpRoute] = &[$(HttpRoute::$route,)+];

            /// The API Gateway route key: `METHOD /path/{param}`.
            #[must_use]
            pub const fn key(self) -> &'static str {
                match self {
                    $(HttpRoute::$route => $key,)+
                }
            }

            /// Whether the route is open to anyone (no authorizer).
            #[must_use]
            pub const fn is_public(self) -> bool {
                match self {
                    $(HttpRoute::$route => http_routes!(@public $($public)?),)+
                }
            }
        }
    };
    (@public public) => { true };
    (@public) => { false };
}

http_routes! {
    /// Liveness.
    Health => "GET /health", public;
    /// This API described for HTTP clients (OpenAPI 3.1).
    OpenApi => "GET /openapi.json", public;
    /// The WebSocket API described (AsyncAPI 3).
    AsyncApi => "GET /asyncapi.json", public;
    /// Where API Gateway's JWT authorizer finds the issuer's keys.
    OpenIdConfiguration => "GET /.well-known/openid-configuration", public;
    Jwks => "GET /.well-known/jwks.json", public;
    /// A token for a new guest customer.
    GuestToken => "POST /auth/guest", public;
    /// Sends a one-time sign-in code by SMS.
    SignInCode => "POST /auth/sign-in", public;
    /// Signs in with the code: an access and a refresh token.
    SignInVerify => "POST /auth/sign-in/verify", public;
    /// A new access token for a refresh token (which is replaced).
    Refresh => "POST /auth/refresh", public;
    /// Revokes a refresh token (and, if asked, every session of its caller).
    SignOut => "POST /auth/sign-out", public;
    /// A guest verifies a number and keeps their orders and home.
    Upgrade => "POST /auth/upgrade";
    AttachPhone => "PUT /customers/me/phone";
    /// Whether the customer gets SMS receipts (on by default).
    ReceiptSettings => "PUT /customers/me/receipts";
    /// The caller's device push token (a store's app alerted while closed).
    RegisterDevice => "PUT /devices/me";
    /// Reads a demand (text, voice, pictures or lines) into a list.
    ParseDemand => "POST /demand/parse";
    PlaceOrder => "POST /orders";
    GetOrder => "GET /orders/{order_id}";
    CancelOrder => "POST /orders/{order_id}/cancel";
    AcceptOffer => "POST /orders/{order_id}/accept";
    DeclineOffer => "POST /orders/{order_id}/decline";
    Pack => "POST /orders/{order_id}/pack";
    DropLine => "POST /orders/{order_id}/drop";
    AnswerSubstitute => "POST /orders/{order_id}/substitute";
    ChooseDelivery => "POST /orders/{order_id}/delivery";
    HandOver => "POST /orders/{order_id}/handover";
    Complete => "POST /orders/{order_id}/complete";
    Review => "POST /orders/{order_id}/review";
    GiveBack => "POST /orders/{order_id}/store-cancel";
    Complain => "POST /orders/{order_id}/complaint";
    AnswerComplaint => "POST /orders/{order_id}/complaint/answer";
    ShareOrder => "POST /orders/{order_id}/share";
    /// A completed order's public share card (JSON, or HTML for browsers).
    SharedOrder => "GET /share/{share_id}", public;
    CustomerHistory => "GET /customers/me/orders";
    Home => "GET /customers/me/home";
    ReplaceHomeItem => "PUT /customers/me/home/{item_key}";
    RemoveHomeItem => "DELETE /customers/me/home/{item_key}";
    /// Whether the customer receives offers from stores nearby.
    PromotionConsent => "PUT /customers/me/promotions/consent";
    /// Offers from stores nearby still valid (none once opted out).
    CustomerPromotions => "GET /customers/me/promotions";
    /// Turns an offer into an order its store is alerted to first.
    OrderPromotion => "POST /customers/me/promotions/{promotion_id}/order";
    RegisterStore => "PUT /stores/{store_id}";
    UpdateStore => "PATCH /stores/{store_id}";
    GetStore => "GET /stores/{store_id}";
    StoreOffers => "GET /stores/{store_id}/offers";
    StoreHistory => "GET /stores/{store_id}/orders";
    /// A store's live stock counts (optional: none means tags alone decide).
    GetStock => "GET /stores/{store_id}/stock";
    /// A store counts its stock again.
    SetStock => "PUT /stores/{store_id}/stock";
    /// A store offers an item at a price to opted-in buyers nearby; it
    /// learns how many, never who.
    SendPromotion => "POST /stores/{store_id}/promotions";
    /// A signed-in customer applies for a store; it stays pending (never
    /// matched) until an operator approves it.
    ApplyStore => "POST /store-applications";
    /// Operators: stores awaiting approval.
    PendingStores => "GET /operator/stores";
    ApproveStore => "POST /operator/stores/{store_id}/approve";
    SuspendStore => "POST /operator/stores/{store_id}/suspend";
    ReinstateStore => "POST /operator/stores/{store_id}/reinstate";
    /// Operators: every change of an order, who made it and when.
    OrderAudit => "GET /operator/orders/{order_id}/audit";
    /// Operators: figures per area and hour of placing.
    Figures => "GET /operator/figures";
    /// Operators: the city's demands, offers, acceptances and unfulfilled
    /// orders as they happen (cells, never points).
    Activity => "GET /operator/activity";
    /// The web apps' files (`web/` at the repo root) and their generated
    /// `/app/config.js`; `{path+}` is greedy, as API Gateway's is.
    WebApp => "GET /app/{path+}", public;
}

impl HttpRoute {
    /// The route a route key names.
    #[must_use]
    pub fn parse(key: &str) -> Option<HttpRoute> {
        HttpRoute::ALL.iter().copied().find(|r| r.key() == key)
    }

    /// The HTTP method.
    #[must_use]
    pub fn method(self) -> &'static str {
        self.key().split_once(' ').map_or("", |(method, _)| method)
    }

    /// The path template, e.g. `/orders/{order_id}`.
    #[must_use]
    pub fn path(self) -> &'static str {
        self.key().split_once(' ').map_or("", |(_, path)| path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_back_to_its_route_and_keys_are_unique() {
        for route in HttpRoute::ALL {
            assert_eq!(HttpRoute::parse(route.key()), Some(*route));
            assert!(["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&route.method()));
            assert!(route.path().starts_with('/'));
        }
        let mut keys: Vec<&str> = HttpRoute::ALL.iter().map(|r| r.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), HttpRoute::ALL.len());
        assert_eq!(HttpRoute::parse("GET /nowhere"), None);
    }
}
