//! Request bodies: their types (read by serde into the domain's own types
//! where one fits), how a body is read (answers name the field and the
//! rule, never a parser's internals), and what the API documents say each
//! route reads and answers.

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::bodies::*;
use super::error::ApiError;
use super::operation::{Operation, QueryParam, schema};
use super::routes::HttpRoute;
use crate::domain::account::Role;
use crate::domain::clock::Millis;
use crate::domain::customer::contains_phone_number;
use crate::domain::demand::catalogue::Catalogue;
use crate::domain::demand::understanding::{DemandRequest, PictureLabel, Understood, VoiceInput, understand};
use crate::domain::demand::{DemandError, DemandItem, DemandLineInput, Language, demand_from_lines};
use crate::domain::geo::{GeoPoint, InvalidPoint, ObjectOnly};
use crate::domain::order::aftersales::STARS;
use crate::domain::order::delivery::{DeliveryAddress, DeliveryKind, TimeSlot};
use crate::domain::order::money::{Paisa, PaymentMethod};
use crate::domain::order::packing::PackOutcome;
use crate::domain::order::views::{CustomerOrderView, ShareCard};
use crate::domain::stock::{StockInput, StockView};
use crate::domain::store::{Store, StorePatchInput, StoreProfileInput};
use crate::usecases::ordering::OrderRequest;

/// What the API documents say about each route: its summary and the types
/// it reads and answers with (the handlers below serialise the same types).
#[must_use]
pub fn operation(route: HttpRoute) -> Operation {
    use HttpRoute as R;
    let op = Operation::new;
    match route {
        R::Health => op("Liveness.", 200, schema::<Health>),
        R::OpenApi => op("This API described (OpenAPI 3.1).", 200, schema::<Document>),
        R::AsyncApi => op("The WebSocket API described (AsyncAPI 3.0).", 200, schema::<Document>),
        R::OpenIdConfiguration => op(
            "Where the token issuer's keys are (OpenID discovery).",
            200,
            schema::<OpenIdConfiguration>,
        ),
        R::Jwks => op("The token issuer's public keys.", 200, schema::<Jwks>),
        R::GuestToken => op("A token for a new guest customer.", 201, schema::<GuestToken>).rate_limited(),
        R::SignInCode => op(
            "Sends a one-time sign-in code by SMS; answers the same for every number.",
            202,
            schema::<CodeSent>,
        )
        .reads(schema::<PhoneBody>)
        .rate_limited(),
        R::SignInVerify => op(
            "Signs in with the code, as a customer, a store or an operator.",
            200,
            schema::<SignedIn>,
        )
        .reads(schema::<VerifyBody>)
        .rate_limited(),
        R::Refresh => op(
            "A new access token for a refresh token, which is replaced.",
            200,
            schema::<SignedIn>,
        )
        .reads(schema::<RefreshBody>),
        R::SignOut => op(
            "Revokes the refresh token, or every session of its caller.",
            200,
            schema::<SignedOut>,
        )
        .reads(schema::<SignOutBody>),
        R::Upgrade => op(
            "A guest verifies a number with a code and keeps their orders and home.",
            200,
            schema::<SignedIn>,
        )
        .reads(schema::<PhoneCodeBody>)
        .rate_limited(),
        R::AttachPhone => op(
            "Attaches a verified phone number (with its sign-in code) to the customer.",
            200,
            schema::<PhoneAttached>,
        )
        .reads(schema::<PhoneCodeBody>)
        .rate_limited(),
        R::ReceiptSettings => op(
            "Turns the customer's SMS receipts (on acceptance and completion) off or on.",
            200,
            schema::<ReceiptSettings>,
        )
        .reads(schema::<ReceiptsBody>),
        R::RegisterDevice => op(
            "Registers the caller's device push token: a store whose app is closed is alerted of offers by push.",
            200,
            schema::<DeviceRegistered>,
        )
        .reads(schema::<DeviceBody>),
        R::ParseDemand => op(
            "Reads a demand (text, voice, pictures or lines) into a list.",
            200,
            schema::<Understood>,
        )
        .reads(schema::<DemandInput>),
        R::PlaceOrder => op(
            "Places an order with the stores nearby.",
            201,
            schema::<CustomerOrderView>,
        )
        .reads(schema::<OrderBody>)
        .rate_limited(),
        R::GetOrder => op(
            "An order: the customer's view, or the winning store's.",
            200,
            schema::<OrderView>,
        ),
        R::CancelOrder => op("The customer cancels the order.", 200, schema::<CustomerOrderView>),
        R::AcceptOffer => op("A store accepts an offer; the first wins.", 200, schema::<Accepted>),
        R::DeclineOffer => op("A store declines an offer.", 200, schema::<Declined>),
        R::Pack => op("The store packs a line.", 200, schema::<OrderView>).reads(schema::<PackBody>),
        R::DropLine => op("The store drops a line.", 200, schema::<OrderView>).reads(schema::<LineBody>),
        R::AnswerSubstitute => {
            op("The customer answers a substitute.", 200, schema::<OrderView>).reads(schema::<SubstituteAnswerBody>)
        }
        R::ChooseDelivery => {
            op("The customer chooses delivery or pickup.", 200, schema::<OrderView>).reads(schema::<DeliveryBody>)
        }
        R::HandOver => op("The store hands the order over.", 200, schema::<OrderView>),
        R::Complete => op("The order is completed.", 200, schema::<OrderView>),
        R::Review => op("The customer reviews the store.", 200, schema::<OrderView>).reads(schema::<ReviewBody>),
        R::GiveBack => {
            op("The winning store gives the order back.", 200, schema::<GivenBack>).reads(schema::<TextBody>)
        }
        R::Complain => op("The customer complains.", 200, schema::<OrderView>).reads(schema::<ComplaintBody>),
        R::AnswerComplaint => op("The store answers a complaint.", 200, schema::<OrderView>).reads(schema::<TextBody>),
        R::ShareOrder => op("A public link to a completed order.", 200, schema::<Shared>),
        R::SharedOrder => op(
            "A completed order's public share card (JSON, or HTML for browsers).",
            200,
            schema::<ShareCard>,
        )
        .html(),
        R::WebApp => op(
            "The web apps' pages, scripts and styles (`customer/`, `store/`, `operator/`), and `config.js`.",
            200,
            schema::<String>,
        )
        .asset(),
        R::CustomerHistory => op(
            "The customer's orders, newest first.",
            200,
            schema::<CustomerOrdersPage>,
        )
        .paged(),
        R::Home => op("The customer's home list.", 200, schema::<Home>),
        R::ReplaceHomeItem => {
            op("Sets one item of the home list.", 200, schema::<Home>).reads(schema::<DemandLineInput>)
        }
        R::RemoveHomeItem => op("Removes one item of the home list.", 200, schema::<Home>),
        R::RegisterStore => {
            op("Registers or replaces a store.", 200, schema::<Store>).reads(schema::<StoreProfileInput>)
        }
        R::UpdateStore => {
            op("Changes some of a store's profile.", 200, schema::<Store>).reads(schema::<StorePatchInput>)
        }
        R::GetStore => op("A store's profile.", 200, schema::<Store>),
        R::StoreOffers => op("The offers a store may still accept.", 200, schema::<Offers>),
        R::StoreHistory => op("A store's orders, newest first.", 200, schema::<StoreOrdersPage>).paged(),
        R::GetStock => op(
            "The store's stock counts in base units (g, ml, piece, packet): counted, held by accepted \
             orders, sold by packing, available.",
            200,
            schema::<StockView>,
        ),
        R::SetStock => op(
            "The store counts its stock again: each listed item is on the shelf in that amount (what \
             accepted orders hold included); items left out are no longer counted. Its devices get \
             `stock_changed`.",
            200,
            schema::<StockView>,
        )
        .reads(schema::<StockInput>),
        R::ApplyStore => op(
            "A signed-in customer applies for a store: the store's profile and the phone number its staff \
             will sign in with. The store is pending (never matched) until an operator approves it.",
            202,
            schema::<ApplicationReceived>,
        )
        .reads(schema::<ApplicationBody>)
        .rate_limited(),
        R::PendingStores => op(
            "Operators: store applications awaiting approval, oldest first.",
            200,
            schema::<PendingStores>,
        )
        .query(&PENDING_QUERY),
        R::ApproveStore => op(
            "Operators: approves a pending store; it trades, and its phone number signs in as the store.",
            200,
            schema::<StoreStanding>,
        ),
        R::SuspendStore => op(
            "Operators: suspends a store; it is never matched, cannot go online or accept, and its sockets close.",
            200,
            schema::<StoreStanding>,
        )
        .reads(schema::<SuspendBody>),
        R::PromotionConsent => op(
            "Opts the customer in to offers from shops nearby for items bought before, or out (at once: \
             no offer reaches them from then on).",
            200,
            schema::<PromotionConsentView>,
        )
        .reads(schema::<ConsentBody>),
        R::CustomerPromotions => op(
            "The offers the customer received that are still valid (none once opted out); no shop is named.",
            200,
            schema::<CustomerPromotions>,
        ),
        R::OrderPromotion => op(
            "Turns an offer into an order of its item: its shop is alerted alone first, then shops nearby \
             as usual. An offer past its time is refused (410 promotion_expired).",
            201,
            schema::<CustomerOrderView>,
        )
        .reads(schema::<Placement>)
        .rate_limited(),
        R::SendPromotion => op(
            "A store offers an item at a price until a time to opted-in customers nearby who bought it \
             before; it learns only how many received it. A few a day.",
            201,
            schema::<PromotionSent>,
        )
        .reads(schema::<PromotionBody>)
        .rate_limited(),
        R::ReinstateStore => op(
            "Operators: lets a suspended store trade again.",
            200,
            schema::<StoreStanding>,
        ),
        R::OrderAudit => op(
            "Operators: an order's audit trail, every change with who made it and when.",
            200,
            schema::<OrderAudit>,
        ),
        R::Figures => op(
            "Operators: per area (H3 resolution 7) and hour of placing: orders, time to accept (p50, p90), \
             acceptance and unfulfilled rates, average fulfilment time.",
            200,
            schema::<FiguresAnswer>,
        )
        .query(&FIGURES_QUERY),
        R::Activity => op(
            "Operators: the city's demands, offers, acceptances and unfulfilled orders after `since`, \
             as H3 cells (resolution 8) with their shapes; poll with the answer's `now_ms`.",
            200,
            schema::<ActivityAnswer>,
        )
        .query(&ACTIVITY_QUERY),
    }
}

fn millis_schema() -> Value {
    serde_json::json!({ "type": "integer", "format": "int64", "minimum": 0 })
}

/// The query of `GET /operator/figures`.
const FIGURES_QUERY: [QueryParam; 2] = [
    QueryParam {
        name: "from",
        description: "Start (ms since the epoch), rounded down to its hour; by default 24 hours before `to`.",
        schema: millis_schema,
    },
    QueryParam {
        name: "to",
        description: "End (ms since the epoch, exclusive), rounded up to its hour; by default now. At most 48 \
                      hours after `from`.",
        schema: millis_schema,
    },
];

/// The query of `GET /operator/activity`.
const ACTIVITY_QUERY: [QueryParam; 1] = [QueryParam {
    name: "since",
    description: "Events after this time (ms since the epoch), at most 3 hours ago; by default the last 15 minutes.",
    schema: millis_schema,
}];

/// The query of `GET /operator/stores`.
const PENDING_QUERY: [QueryParam; 3] = [
    QueryParam {
        name: "status",
        description: "Which stores: only `pending` (applications) is listed.",
        schema: || serde_json::json!({ "type": "string", "enum": ["pending"], "default": "pending" }),
    },
    QueryParam {
        name: "limit",
        description: "Applications per page, 1 to 100.",
        schema: || serde_json::json!({ "type": "integer", "minimum": 1, "maximum": 100, "default": 50 }),
    },
    QueryParam {
        name: "after",
        description: "The previous page's `next_after`.",
        schema: || serde_json::json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" }),
    },
];

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

/// `POST /operator/stores/{store_id}/suspend`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuspendBody {
    /// Why, for the store and the other operators (1 to 500 characters).
    pub(crate) reason: String,
}

/// `POST /store-applications`: a store profile, as `PUT /stores/{store_id}`
/// takes it, and `phone`, in one object.
pub(crate) struct ApplicationBody;

impl JsonSchema for ApplicationBody {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ApplicationBody".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut profile = StoreProfileInput::json_schema(generator);
        profile.remove("additionalProperties");
        schemars::json_schema!({
            "description": "A store profile, as `PUT /stores/{store_id}` takes it, and the phone number the store's staff will sign in with once approved.",
            "allOf": [
                profile.to_value(),
                {
                    "type": "object",
                    "properties": {
                        "phone": {
                            "type": "string",
                            "description": "A Bangladeshi mobile number: +8801XXXXXXXXX or 01XXXXXXXXX."
                        }
                    },
                    "required": ["phone"]
                }
            ],
            "unevaluatedProperties": false
        })
    }
}

/// `POST /orders/{id}/pack`: the line and what became of it.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct PackBody {
    pub(crate) line: usize,
    #[serde(flatten)]
    pub(crate) outcome: PackOutcome,
}

impl PackBody {
    /// The body, or an error naming the field at fault. serde loses the
    /// path inside the flattened outcome (a negative `price` named no
    /// field); where it did, the fields are read again one by one.
    pub(crate) fn parse(body: &str) -> Result<PackBody, ApiError> {
        let pack = parse_body::<PackBody>(body).map_err(|e| match e.field {
            Some(_) => e,
            None => parse_body::<PackFields>(body).err().unwrap_or(e),
        })?;
        // serde reads a substitute's flattened quantity as none when its
        // amount or unit is wrong or alone; that is refused, not dropped.
        if let PackOutcome::Substitute { quantity: None, .. } = pack.outcome {
            let fields = parse_body::<PackFields>(body)?;
            let alone = match (fields.amount, fields.unit) {
                (Some(_), None) => Some("unit"),
                (None, Some(_)) => Some("amount"),
                _ => None,
            };
            if let Some(missing) = alone {
                return Err(ApiError::new(
                    400,
                    "invalid_body",
                    format!("{missing} is required with a substitute's amount or unit"),
                )
                .with_field(missing));
            }
        }
        Ok(pack)
    }
}

/// [`PackBody`]'s fields side by side, read only for the error that names
/// one of them.
#[derive(Deserialize)]
struct PackFields {
    #[allow(dead_code)] // read for its errors only
    line: Option<usize>,
    #[allow(dead_code)]
    outcome: Option<PackOutcomeName>,
    #[allow(dead_code)]
    price: Option<Paisa>,
    #[serde(
        default,
        deserialize_with = "crate::domain::demand::quantity::optional_amount_in_any_digits"
    )]
    amount: Option<rust_decimal::Decimal>,
    unit: Option<crate::domain::demand::Unit>,
    #[allow(dead_code)]
    name: Option<String>,
}

/// [`PackOutcome`]'s tags.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum PackOutcomeName {
    Packed,
    PartlyPacked,
    Unavailable,
    Substitute,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LineBody {
    pub(crate) line: usize,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubstituteAnswerBody {
    pub(crate) line: usize,
    pub(crate) accept: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveryBody {
    pub(crate) kind: DeliveryKind,
    #[serde(default)]
    pub(crate) slot: Option<TimeSlot>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComplaintBody {
    pub(crate) text: String,
    #[serde(default)]
    pub(crate) wants_return: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextBody {
    pub(crate) text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewBody {
    /// 1 to 5, refused as such (not by the parser's `u8` range).
    #[serde(deserialize_with = "one_to_five")]
    #[schemars(range(min = 1, max = 5))]
    pub(crate) stars: u8,
    #[serde(default)]
    pub(crate) comment: Option<String>,
}

fn one_to_five<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    let stars = i64::deserialize(deserializer)?;
    u8::try_from(stars).ok().filter(|s| STARS.contains(s)).ok_or_else(|| {
        serde::de::Error::invalid_value(serde::de::Unexpected::Signed(stars), &"a whole number from 1 to 5")
    })
}

/// `POST /auth/sign-in`: the number to send a code to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneBody {
    /// A Bangladeshi mobile number: `+8801XXXXXXXXX` or `01XXXXXXXXX`.
    pub(crate) phone: String,
}

/// `PUT /customers/me/receipts`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiptsBody {
    /// `false`: no SMS receipts from now on; `true`: receipts again.
    pub(crate) sms: bool,
}

/// `PUT /devices/me`: the push token the device's platform (FCM, APNs)
/// gave the app.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceBody {
    /// 8 to 4096 printable characters without spaces.
    pub(crate) token: String,
}

/// A number and the code sent to it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneCodeBody {
    pub(crate) phone: String,
    /// The 6 digits of the text.
    pub(crate) code: String,
}

/// `POST /auth/sign-in/verify`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    pub(crate) phone: String,
    /// The 6 digits of the text.
    pub(crate) code: String,
    /// Who to sign in as: `customer` (the default; made on first sign-in),
    /// or `store` / `operator` (only if the number holds that role).
    #[serde(default = "customer_role")]
    pub(crate) role: Role,
}

fn customer_role() -> Role {
    Role::Customer
}

/// `POST /auth/refresh`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshBody {
    pub(crate) refresh_token: String,
}

/// `POST /auth/sign-out`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignOutBody {
    pub(crate) refresh_token: String,
    /// Also end every other session of this caller (a lost phone).
    #[serde(default)]
    pub(crate) everywhere: bool,
}

/// Deepest nesting a body may have: every body of this API is a few levels
/// deep, and deeper input would only cost stack.
pub(crate) const MAX_BODY_NESTING: usize = 16;

/// How deeply objects and arrays nest in `json` (strings skipped).
pub(crate) fn nesting_depth(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in json.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'{' | b'[') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

pub(crate) fn parse_body<T: DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    if body.trim().is_empty() {
        return Err(ApiError::new(400, "missing_body", "this call needs a JSON body"));
    }
    if nesting_depth(body) > MAX_BODY_NESTING {
        return Err(ApiError::new(
            400,
            "invalid_body",
            format!("the body nests deeper than {MAX_BODY_NESTING} levels"),
        ));
    }
    // One read for the body's shape: every body is an object (serde would
    // also read a struct from an array of its fields in order,
    // `["01712345678"]` as a sign-in), and a key given twice is refused at
    // any depth, also where a body is read as a map (which would keep the
    // last of them silently).
    let mut json = serde_json::Deserializer::from_str(body);
    serde_path_to_error::deserialize::<_, AnObjectWithoutRepeats>(&mut json)
        .map_err(|e| body_error(&e.path().to_string(), e.inner()))?;
    let mut json = serde_json::Deserializer::from_str(body);
    let value =
        serde_path_to_error::deserialize(&mut json).map_err(|e| body_error(&e.path().to_string(), e.inner()))?;
    // Nothing may follow the JSON value.
    json.end().map_err(|e| body_error("", &e))?;
    Ok(value)
}

/// A body read only for its shape: one JSON object, no key given twice.
struct AnObjectWithoutRepeats;

impl<'de> Deserialize<'de> for AnObjectWithoutRepeats {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopLevel;
        impl<'de> serde::de::Visitor<'de> for TopLevel {
            type Value = AnObjectWithoutRepeats;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                serde::de::Visitor::visit_map(NoRepeatedKeys, map).map(|_| AnObjectWithoutRepeats)
            }
        }
        deserializer.deserialize_map(TopLevel)
    }
}

/// Whether `body` is JSON in which no object gives a key twice.
pub(crate) fn is_json_without_repeated_keys(body: &str) -> bool {
    serde_json::from_str::<NoRepeatedKeys>(body).is_ok()
}

/// Any JSON value, read only to find an object with a key given twice.
struct NoRepeatedKeys;

impl<'de> Deserialize<'de> for NoRepeatedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoRepeatedKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoRepeatedKeys {
    type Value = NoRepeatedKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<Self, A::Error> {
        while items.next_element::<NoRepeatedKeys>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                // Worded as serde words it, so the answer names the field.
                return Err(serde::de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            map.next_value::<NoRepeatedKeys>()?;
            seen.insert(key);
        }
        Ok(self)
    }
}

pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| body_error(&e.path().to_string(), e.inner()))
}

/// An answer that names the field and the rule, never a Rust type or a
/// parser position.
pub(crate) fn body_error(path: &str, e: &serde_json::Error) -> ApiError {
    let at = (path != "." && !path.is_empty()).then_some(path);
    // Valid JSON whose number no value can hold (1e400): the field's
    // fault, not the text's.
    if e.is_syntax() && e.to_string().starts_with("number out of range") {
        return ApiError::new(
            400,
            "invalid_body",
            format!("{}: a number too large", at.unwrap_or("a value")),
        )
        .with_field_if_any(at);
    }
    if e.is_syntax() || e.is_eof() {
        return ApiError::new(400, "invalid_json", "the body is not valid JSON");
    }
    let (field, problem) = match (at, named_field(e)) {
        // An unknown field's path already ends with it; a missing one's
        // names its parent.
        (Some(at), Some(name)) if at == name || at.ends_with(&format!(".{name}")) => (Some(at.to_string()), None),
        (Some(at), Some(name)) => (Some(format!("{at}.{name}")), None),
        (None, Some(name)) => (Some(name), None),
        (at, None) => (at.map(str::to_string), Some(plain_rule(e))),
    };
    let message = match (&field, problem) {
        (Some(field), None) if is_missing(e) => format!("{field} is required"),
        (Some(field), None) if is_duplicate(e) => format!("{field} is given more than once"),
        (Some(field), None) => format!("{field} is not a field of this body"),
        (Some(field), Some(problem)) => format!("{field}: {problem}"),
        (None, problem) => problem.unwrap_or_else(|| "the body has the wrong shape".to_string()),
    };
    ApiError::new(400, "invalid_body", message).with_field_if_any(field)
}

pub(crate) fn is_missing(e: &serde_json::Error) -> bool {
    e.to_string().starts_with("missing field")
}

/// The field a "missing field", "unknown field" or "duplicate field" error
/// names.
pub(crate) fn named_field(e: &serde_json::Error) -> Option<String> {
    let text = e.to_string();
    let rest = text
        .strip_prefix("missing field `")
        .or_else(|| text.strip_prefix("unknown field `"))
        .or_else(|| text.strip_prefix("duplicate field `"))?;
    rest.split('`').next().map(str::to_string)
}

fn is_duplicate(e: &serde_json::Error) -> bool {
    e.to_string().starts_with("duplicate field")
}

/// serde's description of a wrong value, in the words of the API: the
/// parser position is cut, and Rust type names become the rule they stand
/// for; anything still technical becomes a plain sentence.
pub(crate) fn plain_rule(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    let mut rule = text.to_string();
    for (rust, plain) in [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        // A 20-digit bound says nothing to a person.
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a borrowed string", "expected a string"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected an object"),
        (
            "expected a Decimal type representing a fixed-point number",
            "expected a decimal number as text, such as \"1.5\"",
        ),
    ] {
        if let Some(cut) = rule.strip_suffix(rust) {
            rule = format!("{cut}{plain}");
        }
    }
    if let Some(at) = rule
        .find("expected struct ")
        .or_else(|| rule.find("expected internally tagged enum "))
    {
        rule = format!("{}expected an object", &rule[..at]);
    } else if let Some(at) = rule.find("expected enum ") {
        rule = format!("{}expected one of the documented values", &rule[..at]);
    }
    let rule = said_plainly(&rule);
    if looks_technical(&rule) {
        "has a value of the wrong type or out of range".to_string()
    } else {
        rule
    }
}

/// serde's phrasing ("invalid type: string \"yes\", expected a boolean")
/// as the API says it: what was expected, then what came.
fn said_plainly(rule: &str) -> String {
    for wrong in ["invalid type: ", "invalid value: "] {
        if let Some((got, expected)) = rule
            .strip_prefix(wrong)
            .and_then(|rest| rest.rsplit_once(", expected "))
        {
            return format!("expected {expected}, not {}", value_said(got));
        }
    }
    if let Some((got, expected)) = rule
        .strip_prefix("unknown variant ")
        .and_then(|rest| rest.rsplit_once(", expected "))
    {
        return format!("{got} is not allowed here: expected {expected}");
    }
    if let Some((_, expected)) = rule
        .strip_prefix("invalid length ")
        .and_then(|rest| rest.rsplit_once(", expected "))
    {
        return format!("expected {expected}");
    }
    rule.to_string()
}

/// A value as serde describes it (`string "yes"`, ``integer `5` ``,
/// `sequence`), as a person would.
fn value_said(got: &str) -> String {
    if let Some(text) = got.strip_prefix("string ") {
        return format!("the text {text}");
    }
    if let Some(number) = got
        .strip_prefix("integer ")
        .or_else(|| got.strip_prefix("floating point "))
    {
        let number = number.trim_matches('`');
        // A whole number past 2^64 reaches serde as a float (1e20); a tiny
        // fraction (1e-7) is said as it is.
        return if number.contains('e') && !number.contains("e-") {
            "a number out of range".to_string()
        } else {
            number.to_string()
        };
    }
    if let Some(flag) = got.strip_prefix("boolean ") {
        return flag.trim_matches('`').to_string();
    }
    match got {
        "sequence" => "a list".to_string(),
        "map" => "an object".to_string(),
        other => other.to_string(),
    }
}

/// Words that only a parser or a Rust type would say.
pub(crate) fn looks_technical(text: &str) -> bool {
    const TECHNICAL: [&str; 16] = [
        " u8", " u16", " u32", " u64", " u128", " usize", " i8", " i16", " i32", " i64", " isize", " f32", " f64",
        "::", "Option", "Vec<",
    ];
    TECHNICAL.iter().any(|t| text.contains(t)) || text.contains("line ") || text.contains("column ")
}

/// A demand: structured lines (`items`), or anything the understanding
/// reads: typed `text`, a `voice` transcript, `pictures` labels (with an
/// optional `language` hint).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DemandInput {
    #[serde(default)]
    pub(crate) items: Option<Vec<DemandLineInput>>,
    #[serde(default)]
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) language: Option<Language>,
    #[serde(default)]
    pub(crate) voice: Option<VoiceInput>,
    #[serde(default)]
    pub(crate) pictures: Vec<PictureLabel>,
}

impl DemandInput {
    pub(crate) fn understood(self) -> Result<Understood, ApiError> {
        // Wherever the demand was given: typed, spoken, a picture's label or
        // a structured line's name; the refusal names where it was found.
        let given = [
            self.text.as_deref().map(|t| (t, "text".to_string())),
            self.voice
                .as_ref()
                .map(|v| (v.transcript.as_str(), "voice.transcript".to_string())),
        ]
        .into_iter()
        .flatten()
        .chain(
            self.pictures
                .iter()
                .enumerate()
                .map(|(i, p)| (p.label.as_str(), format!("pictures[{i}].label"))),
        )
        .chain(
            self.items
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, l)| (l.name.as_str(), format!("items[{i}].name"))),
        );
        for (said, field) in given {
            if contains_phone_number(said) {
                return Err(ApiError::new(
                    422,
                    "phone_number_in_demand",
                    "a phone number is not an item: the winning store gets your number from your profile \
                     (PUT /customers/me/phone), and the address goes in \"address\"",
                )
                .with_field(field));
            }
        }
        let spoken = self.text.is_some() || self.voice.is_some() || !self.pictures.is_empty();
        // A refusal points at a structured line's own field, or at what was said.
        let refused = |e: DemandError, field: String| demand_refusal(&e, field, e.to_string());
        match (self.items, spoken) {
            (Some(lines), false) => demand_from_lines(&lines)
                .map(|items| Understood {
                    items,
                    language: self.language.unwrap_or(Language::En),
                    recipes: Vec::new(),
                    flagged: Vec::new(),
                })
                .map_err(|e| {
                    let field = line_field(&e);
                    refused(e, field)
                }),
            (None, true) => {
                let said = if self.text.is_some() {
                    "text"
                } else if self.voice.is_some() {
                    "voice.transcript"
                } else {
                    "pictures"
                };
                let request = DemandRequest {
                    text: self.text,
                    language: self.language,
                    voice: self.voice,
                    pictures: self.pictures,
                };
                let catalogue = Catalogue::builtin().map_err(|_| ApiError::unavailable())?;
                // A picture's own fault names the picture, whatever else was said.
                understand(&request, catalogue).map_err(|e| match e {
                    DemandError::BlankPictureLabel { .. } => {
                        let field = line_field(&e);
                        refused(e, field)
                    }
                    e => refused(e, said.to_string()),
                })
            }
            _ => Err(ApiError::new(
                400,
                "invalid_body",
                "give either \"items\", or any of \"text\", \"voice\", \"pictures\"",
            )),
        }
    }
}

/// A refusal of the one line a body is (a home item, a promotion's item):
/// its field and rule, without "items[0]" and "line 1".
pub(crate) fn one_line_refusal(e: &DemandError, within: &str) -> ApiError {
    let field = line_field(e);
    let field = field.strip_prefix("items[0].").unwrap_or(&field);
    let field = if within.is_empty() {
        field.to_string()
    } else {
        format!("{within}.{field}")
    };
    let message = e.to_string();
    let message = message.strip_prefix("line 1: ").unwrap_or(&message).to_string();
    demand_refusal(e, field, message)
}

/// A demand refused: 422 with its code, naming `field`. A catalogue that
/// failed to load is the service's fault (503), not the demand's.
fn demand_refusal(e: &DemandError, field: String, message: String) -> ApiError {
    if matches!(e, DemandError::CatalogueUnavailable(_)) {
        return ApiError::unavailable();
    }
    ApiError::new(422, e.code(), message).with_field(field)
}

/// The field of a structured demand (`items`) that `e` refuses: the line's
/// own field where it names a line.
fn line_field(e: &DemandError) -> String {
    let at = |line: &usize, field: &str| format!("items[{}].{field}", line.saturating_sub(1));
    match e {
        DemandError::MissingName { line } | DemandError::NameTooLong { line } | DemandError::BadCharacters { line } => {
            at(line, "name")
        }
        DemandError::UnknownUnit { line, .. } => at(line, "unit"),
        DemandError::BlankPictureLabel { picture } => format!("pictures[{picture}].label"),
        DemandError::AmountOutOfRange { line } | DemandError::HalfQuantity { line } => at(line, "amount"),
        DemandError::Empty
        | DemandError::TooManyLines
        | DemandError::TextTooLong
        | DemandError::CatalogueUnavailable(_) => "items".to_string(),
    }
}

/// Where and how an order is wanted, beside its demand.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Placement {
    pub(crate) location: LocationInput,
    /// Optional: how the customer wants it, chosen with the order.
    #[serde(default)]
    pub(crate) delivery: Option<DeliveryBody>,
    /// How the customer pays; cash on delivery unless said.
    #[serde(default)]
    pub(crate) payment: PaymentMethod,
    /// Where to bring it and a note for the rider; only the winning store
    /// sees it, after accepting.
    #[serde(default)]
    pub(crate) address: Option<DeliveryAddress>,
}

impl Placement {
    /// The order request for `items` placed this way: the location and the
    /// address checked, naming the field that is wrong.
    pub(crate) fn into_request(self, items: Vec<DemandItem>) -> Result<OrderRequest, ApiError> {
        let location = self.location.checked()?;
        let address = self
            .address
            .map(DeliveryAddress::checked)
            .transpose()
            .map_err(|e| ApiError::new(422, "invalid_address", e.to_string()).with_field(e.field))?;
        Ok(OrderRequest {
            items,
            location,
            delivery: self.delivery.map(|d| (d.kind, d.slot)),
            payment: self.payment,
            address,
        })
    }
}

/// The order body: a demand, as `POST /demand/parse` takes it, plus its
/// [`Placement`] fields, in one JSON object.
pub(crate) struct OrderBody {
    pub(crate) demand: DemandInput,
    pub(crate) placement: Placement,
}

/// Both parts' fields in one object: `allOf` the two, each without its
/// own `additionalProperties: false`, and no other field
/// (`unevaluatedProperties: false`).
impl JsonSchema for OrderBody {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OrderBody".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let part = |mut schema: schemars::Schema| {
            schema.remove("additionalProperties");
            schema.to_value()
        };
        let demand = part(DemandInput::json_schema(generator));
        let placement = part(Placement::json_schema(generator));
        schemars::json_schema!({
            "description": "A demand, as `POST /demand/parse` takes it, and where and how it is wanted, in one object.",
            "allOf": [demand, placement],
            "unevaluatedProperties": false
        })
    }
}

impl OrderBody {
    const PLACEMENT_FIELDS: [&str; 4] = ["location", "delivery", "payment", "address"];

    /// Each part is read with its own type, so an unknown field in either
    /// is refused.
    pub(crate) fn parse(body: &str) -> Result<OrderBody, ApiError> {
        let mut fields: serde_json::Map<String, Value> = parse_body(body)?;
        let placement: serde_json::Map<String, Value> = Self::PLACEMENT_FIELDS
            .iter()
            .filter_map(|name| fields.remove_entry(*name))
            .collect();
        Ok(OrderBody {
            placement: from_value(Value::Object(placement))?,
            demand: from_value(Value::Object(fields))?,
        })
    }
}

#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LocationInput {
    pub(crate) lat: f64,
    pub(crate) lng: f64,
}

/// Only as an object ([`ObjectOnly`]): never a pair that could be swapped.
impl<'de> Deserialize<'de> for LocationInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct LatLng {
            lat: f64,
            lng: f64,
        }
        let ObjectOnly(LatLng { lat, lng }) = ObjectOnly::deserialize(deserializer)?;
        Ok(LocationInput { lat, lng })
    }
}

impl LocationInput {
    pub(crate) fn checked(&self) -> Result<GeoPoint, ApiError> {
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
    use crate::domain::demand::{Quantity, Unit};

    #[test]
    fn a_pack_body_names_the_field_at_fault_inside_its_outcome() {
        for (body, field) in [
            (r#"{"line": 0, "outcome": "packed", "price": -5}"#, "price"),
            (r#"{"line": 0, "outcome": "packed", "price": "5"}"#, "price"),
            (r#"{"line": 0, "outcome": "boxed", "price": 5}"#, "outcome"),
            (
                r#"{"line": 0, "outcome": "partly_packed", "amount": "x", "unit": "kg", "price": 5}"#,
                "amount",
            ),
            (
                r#"{"line": 0, "outcome": "partly_packed", "amount": "1", "unit": "stone", "price": 5}"#,
                "unit",
            ),
            (r#"{"line": 0, "outcome": "substitute", "name": 5, "price": 5}"#, "name"),
            (r#"{"line": -1, "outcome": "packed", "price": 5}"#, "line"),
            (r#"{"line": 0, "outcome": "packed"}"#, "price"),
            // A valid Bangla amount is not blamed for the unit's fault.
            (
                r#"{"line": 0, "outcome": "partly_packed", "amount": "০.৪", "unit": "stone", "price": 5}"#,
                "unit",
            ),
            // A substitute's quantity is not dropped when it is wrong or half given.
            (
                r#"{"line": 0, "outcome": "substitute", "name": "basmati", "amount": "abc", "unit": "kg", "price": 5}"#,
                "amount",
            ),
            (
                r#"{"line": 0, "outcome": "substitute", "name": "basmati", "amount": "1", "price": 5}"#,
                "unit",
            ),
        ] {
            let error = PackBody::parse(body).expect_err(body);
            assert_eq!(
                (error.status, error.code.as_str(), error.field.as_deref()),
                (400, "invalid_body", Some(field)),
                "{body}: {}",
                error.message
            );
            assert!(!looks_technical(&error.message), "{}", error.message);
        }
        let fine =
            PackBody::parse(r#"{"line": 1, "outcome": "partly_packed", "amount": "0.4", "unit": "kg", "price": 5}"#)
                .expect("parses");
        assert_eq!(fine.line, 1);
        let plain_substitute =
            PackBody::parse(r#"{"line": 0, "outcome": "substitute", "name": "basmati", "price": 5}"#)
                .expect("a substitute without a quantity");
        assert!(matches!(
            plain_substitute.outcome,
            PackOutcome::Substitute { quantity: None, .. }
        ));
    }

    #[test]
    fn a_key_given_twice_is_named_at_any_depth_even_where_a_body_is_read_as_a_map() {
        for (body, field) in [
            (r#"{"text": "rice", "text": "oil"}"#, "text"),
            (
                r#"{"location": {"lat": 23.7, "lat": 23.8, "lng": 90.4}}"#,
                "location.lat",
            ),
            (
                r#"{"items": [{"name": "rice"}, {"name": "oil", "name": "ghee"}]}"#,
                "items[1].name",
            ),
        ] {
            let error = parse_body::<Value>(body).expect_err(body);
            assert_eq!(
                (error.code.as_str(), error.field.as_deref()),
                ("invalid_body", Some(field)),
                "{body}: {}",
                error.message
            );
            assert!(error.message.ends_with("is given more than once"), "{}", error.message);
        }
        // The same key in two objects is no repeat.
        assert!(parse_body::<Value>(r#"{"a": {"name": 1}, "b": {"name": 2}, "c": [1, "x", null, true]}"#).is_ok());
    }

    #[test]
    fn a_location_is_an_object_never_a_pair_that_could_be_swapped() {
        let location = |body: &str| parse_body::<LocationInput>(body);
        let point = location(r#"{"lat": 23.78, "lng": 90.41}"#).expect("an object");
        assert_eq!((point.lat, point.lng), (23.78, 90.41));
        let pair = location("[90.41, 23.78]").expect_err("a pair");
        assert_eq!(pair.code, "invalid_body");
        for (body, field) in [
            (r#"{"text": "rice", "location": [90.41, 23.78]}"#, "location"),
            (
                r#"{"text": "rice", "location": {"lat": "north", "lng": 90.4}}"#,
                "location.lat",
            ),
            (
                r#"{"text": "rice", "location": {"lat": 23.7, "lng": 90.4, "alt": 3}}"#,
                "location.alt",
            ),
            (r#"{"text": "rice", "location": {"lat": 23.7}}"#, "location.lng"),
        ] {
            let Err(error) = OrderBody::parse(body) else {
                panic!("{body} was read");
            };
            assert_eq!(error.field.as_deref(), Some(field), "{body}: {}", error.message);
            assert!(!looks_technical(&error.message), "{}", error.message);
        }
    }

    #[test]
    fn a_recognisers_confidence_is_a_share_from_0_to_1() {
        let demand = |body: &str| parse_body::<DemandInput>(body);
        assert!(demand(r#"{"voice": {"transcript": "rice", "confidence": 0.95}}"#).is_ok());
        assert!(demand(r#"{"voice": {"transcript": "rice", "confidence": null}}"#).is_ok());
        for (body, field) in [
            (
                r#"{"voice": {"transcript": "rice", "confidence": 7.5}}"#,
                "voice.confidence",
            ),
            (
                r#"{"voice": {"transcript": "rice", "words": [{"word": "rice", "confidence": -1}]}}"#,
                "voice.words[0].confidence",
            ),
            (
                r#"{"pictures": [{"label": "rice", "confidence": 3}]}"#,
                "pictures[0].confidence",
            ),
        ] {
            let error = demand(body).expect_err(body);
            assert_eq!(error.field.as_deref(), Some(field), "{body}: {}", error.message);
            assert!(error.message.contains("a confidence from 0 to 1"), "{}", error.message);
        }
    }

    #[test]
    fn a_blank_picture_label_is_named_even_beside_text() {
        let input = parse_body::<DemandInput>(r#"{"text": "rice", "pictures": [{"label": "bag"}, {"label": " "}]}"#)
            .expect("a demand body");
        let error = input.understood().expect_err("a blank label");
        assert_eq!(
            (error.status, error.code.as_str(), error.field.as_deref()),
            (422, "missing_item_name", Some("pictures[1].label")),
            "{}",
            error.message
        );
    }

    #[test]
    fn serde_phrasing_is_said_plainly() {
        let said = |body: &str, parse: fn(&str) -> Result<(), ApiError>| parse(body).expect_err(body).message;
        let review = |body: &str| parse_body::<ReviewBody>(body).map(drop);
        let delivery = |body: &str| parse_body::<DeliveryBody>(body).map(drop);
        assert_eq!(
            said(r#"{"stars": 300}"#, review),
            "stars: expected a whole number from 1 to 5, not 300"
        );
        assert_eq!(
            said(r#"{"stars": "a, expected b"}"#, review),
            "stars: expected a whole number, not the text \"a, expected b\""
        );
        assert_eq!(
            said(r#"{"stars": 4, "comment": true}"#, review),
            "comment: expected a string, not true"
        );
        assert!(
            said(r#"{"kind": "drone"}"#, delivery).starts_with("kind: `drone` is not allowed here: expected"),
            "{}",
            said(r#"{"kind": "drone"}"#, delivery)
        );
        assert_eq!(
            said(r#"{"stars": 1e30}"#, review),
            "stars: expected a whole number, not a number out of range"
        );
    }

    #[test]
    fn the_pack_outcome_names_are_the_outcomes_tags() {
        let quantity = Quantity {
            amount: rust_decimal::Decimal::ONE,
            unit: Unit::Kilogram,
        };
        for outcome in [
            PackOutcome::Packed { price: Paisa(1) },
            PackOutcome::PartlyPacked {
                quantity,
                price: Paisa(1),
            },
            PackOutcome::Unavailable,
            PackOutcome::Substitute {
                name: "basmati".into(),
                quantity: None,
                price: Paisa(1),
            },
        ] {
            let tag = serde_json::to_value(&outcome).expect("serialises")["outcome"].clone();
            assert!(serde_json::from_value::<PackOutcomeName>(tag.clone()).is_ok(), "{tag}");
        }
    }
}
