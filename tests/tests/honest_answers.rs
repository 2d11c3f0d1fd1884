//! Honest answers to hostile clients: JSON bodies only (415 otherwise),
//! errors that name the field and the rule and never a parser's internals,
//! the same answer for the same fault on every route, and nothing a
//! customer typed that identifies them reaching stores before one has won.

use crate::common;

use common::{Api, LONG, Socket, stack};
use serde_json::{Value, json};
use shared::domain::config::OrderingConfig;

const AT: (f64, f64) = (23.7925, 90.4078);

fn location() -> Value {
    json!({"lat": AT.0, "lng": AT.1})
}

/// Words that only a parser or a Rust type would say.
fn assert_plain(reply: &common::Reply) {
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    for internal in [
        " at line ",
        " column ",
        "u32",
        "u64",
        "u8",
        "usize",
        "i64",
        "f64",
        "struct ",
        "::",
        // serde's own phrasing
        "invalid type",
        "invalid value",
        "unknown variant",
        "invalid length",
        "duplicate field",
    ] {
        assert!(!message.contains(internal), "{internal:?} in {message:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_must_be_json_and_nothing_is_written_otherwise() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let token = common::token_for(&stack.issuer(), "customer:c1");
    let body = json!({"text": "rice", "location": location()}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/xml"),
        Some("multipart/form-data"),
        Some("image/png"),
        None,
    ] {
        let mut request = api
            .http
            .post(format!("{}/orders", api.base))
            .bearer_auth(&token)
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let reply = request.send().await.expect("sent");
        assert_eq!(reply.status(), 415, "{content_type:?}");
        let answer: Value = reply.json().await.expect("json");
        assert_eq!(answer["error"]["code"], "unsupported_media_type");
    }
    assert_eq!(stack.stored_order_count().await.expect("count"), 0);
    let charset = api
        .http
        .post(format!("{}/demand/parse", api.base))
        .bearer_auth(&token)
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"text": "rice"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(charset.status(), 200, "parameters after the media type are fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_field_and_the_rule() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let cases = [
        (json!({"text": "rice"}), "location", "location is required"),
        (
            json!({"text": "rice", "location": {"lat": "north", "lng": 90.4}}),
            "location.lat",
            "location.lat",
        ),
        (
            json!({"text": "rice", "location": location(), "x": 1}),
            "x",
            "x is not a field",
        ),
        (
            json!({"text": "rice", "location": location(), "delivery": {"kind": "drone"}}),
            "delivery.kind",
            "`drone` is not allowed here: expected",
        ),
        (
            json!({"text": "rice", "location": location(), "pay_on_delivery": "yes"}),
            "pay_on_delivery",
            "pay_on_delivery is not a field",
        ),
        (
            json!({"text": "rice", "location": {"lat": true, "lng": 90.4}}),
            "location.lat",
            "expected a number, not true",
        ),
    ];
    for (body, field, says) in cases {
        let reply = api
            .call("POST", "/orders", Some("customer:c1"), Some(body.to_string()))
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert_eq!(reply.body["error"]["code"], "invalid_body");
        assert_eq!(reply.body["error"]["field"], field, "{}", reply.text);
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message}");
        assert_plain(&reply);
    }
    // A store's location as a pair (GeoJSON's [lng, lat] would pass
    // swapped) is refused, named under `location`.
    let pair = json!({"name": "One", "location": [90.41, 23.78], "category": "grocery"});
    let reply = api
        .call("PUT", "/stores/s1", Some("store:s1"), Some(pair.to_string()))
        .await;
    assert_eq!(
        (reply.status, reply.body["error"]["field"].as_str()),
        (400, Some("location")),
        "{}",
        reply.text
    );
    assert_plain(&reply);
    // Numbers out of a field's range say the range, not the Rust type.
    let huge = json!({"name": "One", "location": location(), "category": "grocery",
        "delivery_options": [{"kind": "helper_delivery", "within_minutes": 9_007_199_254_740_992_u64, "fee_paisa": 1}]});
    let reply = api
        .call("PUT", "/stores/s1", Some("store:s1"), Some(huge.to_string()))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    // A tagged option is read as a whole: the answer names the option.
    let field = reply.body["error"]["field"].as_str().unwrap_or_default();
    assert!(field.starts_with("delivery_options[0]"), "{}", reply.text);
    assert!(reply.text.contains("from 0 to 4294967295"), "{}", reply.text);
    assert_plain(&reply);
    let stars = api
        .call(
            "POST",
            "/orders/01KAW0000000000000000000AB/review",
            Some("customer:c1"),
            Some(json!({"stars": 300}).to_string()),
        )
        .await;
    assert_eq!(stars.body["error"]["field"], "stars", "{}", stars.text);
    assert!(stars.text.contains("from 1 to 5, not 300"), "{}", stars.text);
    assert_plain(&stars);
    // A key given twice is named; a body that is not an object is refused,
    // though serde would read a struct from an array of its fields.
    let twice = api
        .call(
            "POST",
            "/auth/sign-in",
            None,
            Some(r#"{"phone": "01712345678", "phone": "01712345679"}"#.to_string()),
        )
        .await;
    assert_eq!(
        (twice.status, twice.body["error"]["field"].as_str()),
        (400, Some("phone")),
        "{}",
        twice.text
    );
    assert_plain(&twice);
    for not_an_object in [r#"["01712345678"]"#, "null", "\"01712345678\"", "7"] {
        let reply = api
            .call("POST", "/auth/sign-in", None, Some(not_an_object.to_string()))
            .await;
        assert_eq!(
            (reply.status, reply.body["error"]["code"].as_str()),
            (400, Some("invalid_body")),
            "{not_an_object}: {}",
            reply.text
        );
        assert_plain(&reply);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_fault_gets_the_same_answer_on_every_route() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let at_91 = json!({"lat": 91.0, "lng": 90.4});
    let store = api
        .call(
            "PUT",
            "/stores/s1",
            Some("store:s1"),
            Some(json!({"name": "One", "location": at_91, "category": "grocery"}).to_string()),
        )
        .await;
    let order = api
        .call(
            "POST",
            "/orders",
            Some("customer:c1"),
            Some(json!({"text": "rice", "location": at_91}).to_string()),
        )
        .await;
    for reply in [&store, &order] {
        assert_eq!(
            (
                reply.status,
                reply.body["error"]["code"].as_str(),
                reply.body["error"]["field"].as_str()
            ),
            (422, Some("invalid_location"), Some("location.lat")),
            "{}",
            reply.text
        );
    }
    // A home item lives at its own key: another key in the path is refused.
    let rice = json!({"name": "rice", "amount": "1", "unit": "kg"}).to_string();
    let elsewhere = api
        .call(
            "PUT",
            "/customers/me/home/sugar:kg",
            Some("customer:c1"),
            Some(rice.clone()),
        )
        .await;
    assert_eq!(
        (elsewhere.status, elsewhere.body["error"]["code"].as_str()),
        (422, Some("key_mismatch"))
    );
    // A home item is one line: its refusal names the line's own field.
    for (item, code, field) in [
        (
            json!({"name": "rice", "amount": "20000", "unit": "kg"}),
            "amount_out_of_range",
            "amount",
        ),
        (
            json!({"name": "rice", "amount": "1", "unit": "cups"}),
            "unknown_unit",
            "unit",
        ),
    ] {
        let refused = api
            .call(
                "PUT",
                "/customers/me/home/rice:kg",
                Some("customer:c1"),
                Some(item.to_string()),
            )
            .await;
        assert_eq!(
            (
                refused.status,
                refused.body["error"]["code"].as_str(),
                refused.body["error"]["field"].as_str()
            ),
            (422, Some(code), Some(field)),
            "{item}: {}",
            refused.text
        );
        assert!(!refused.text.contains("line 1"), "{}", refused.text);
    }
    let home = api.call("GET", "/customers/me/home", Some("customer:c1"), None).await;
    assert_eq!(home.body["items"], json!([]), "nothing written");
    let placed = api
        .call("PUT", "/customers/me/home/rice:kg", Some("customer:c1"), Some(rice))
        .await;
    assert_eq!(placed.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_see_only_the_demand_before_acceptance_and_the_address_after() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
    let mut store = Socket::connect(&stack, "store:s1").await;

    // A phone number typed as an item gets its own answer.
    let phone = api
        .call(
            "POST",
            "/orders",
            Some("customer:c1"),
            Some(json!({"text": "2 kg rice, 017 1234 5678", "location": location()}).to_string()),
        )
        .await;
    assert_eq!(
        (phone.status, phone.body["error"]["code"].as_str()),
        (422, Some("phone_number_in_demand")),
        "{}",
        phone.text
    );
    // However the demand is given, and named where it was found.
    for (demand, field) in [
        (json!({"voice": {"transcript": "rice 01712345678"}}), "voice.transcript"),
        (json!({"pictures": [{"label": "01712345678"}]}), "pictures[0].label"),
        (
            json!({"items": [{"name": "rice"}, {"name": "01712345678"}]}),
            "items[1].name",
        ),
    ] {
        let mut body = demand.clone();
        body["location"] = location();
        let refused = api
            .call("POST", "/orders", Some("customer:c1"), Some(body.to_string()))
            .await;
        assert_eq!(
            (
                refused.status,
                refused.body["error"]["code"].as_str(),
                refused.body["error"]["field"].as_str()
            ),
            (422, Some("phone_number_in_demand"), Some(field)),
            "{demand}: {}",
            refused.text
        );
    }

    let body = json!({
        "text": "2 kg rice, house seven road twelve Dhanmondi ask for Karim",
        "location": location(),
        "address": {"house": "7", "road": "12", "area": "Dhanmondi", "landmark": "opposite the mosque", "note": "ask for Karim"},
    });
    let placed = api
        .call("POST", "/orders", Some("customer:c1"), Some(body.to_string()))
        .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(
        placed.body["address"]["note"], "ask for Karim",
        "the customer sees their address"
    );
    let lines = placed.body["items"].as_array().expect("items").len();
    assert_eq!(lines, 2, "the customer's own list keeps every line");
    let offer = store.expect("offer", LONG).await;
    let frame = offer.to_string();
    for private in ["Karim", "Dhanmondi", "house", "mosque"] {
        assert!(
            !frame.contains(private),
            "{private} reached a store before acceptance: {frame}"
        );
    }
    assert_eq!(
        offer["offer"]["items"].as_array().expect("items").len(),
        1,
        "only the rice"
    );
    let order_id = placed.body["order_id"].as_str().expect("id");
    assert_eq!(api.accept("s1", order_id).await.status, 200);
    let won = api
        .call("GET", &format!("/orders/{order_id}"), Some("store:s1"), None)
        .await;
    assert_eq!(
        won.body["address"]["area"], "Dhanmondi",
        "the winner sees where to deliver"
    );
    assert_eq!(won.body["address"]["note"], "ask for Karim");
    let empty = api
        .call(
            "POST",
            "/orders",
            Some("customer:c2"),
            Some(json!({"text": "rice", "location": location(), "address": {"note": "  "}}).to_string()),
        )
        .await;
    assert_eq!(
        (empty.status, empty.body["error"]["code"].as_str()),
        (422, Some("invalid_address"))
    );
}
