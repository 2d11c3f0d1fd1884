//! Who may do what: every route and WebSocket action called as anonymous,
//! the owner, another customer, an offered store, a store that was not
//! offered, and the winning store; each cell asserts the exact status.
//! Forged, expired and unsigned tokens are refused everywhere.

use crate::common;

use common::{Api, LONG, Socket, stack};
use serde_json::{Value, json};
use shared::domain::clock::{Clock, SystemClock};
use shared::domain::config::OrderingConfig;
use shared::domain::ids::{Caller, CustomerId};
use tokio_tungstenite::connect_async;

const ANON: Option<&str> = None;
const OWNER: Option<&str> = Some("customer:owner");
const OTHER: Option<&str> = Some("customer:other");
const OFFERED: Option<&str> = Some("store:offered");
const NOT_OFFERED: Option<&str> = Some("store:far-away");
const WINNER: Option<&str> = Some("store:winner");

struct Cell {
    who: Option<&'static str>,
    status: u16,
}

fn row(statuses: [u16; 6]) -> Vec<Cell> {
    [ANON, OWNER, OTHER, OFFERED, NOT_OFFERED, WINNER]
        .into_iter()
        .zip(statuses)
        .map(|(who, status)| Cell { who, status })
        .collect()
}

async fn check(api: &Api, method: &str, path: &str, body: Option<Value>, cells: Vec<Cell>) {
    for cell in cells {
        let reply = api
            .call(method, path, cell.who, body.as_ref().map(Value::to_string))
            .await;
        assert_eq!(
            reply.status, cell.status,
            "{method} {path} as {:?}: {}",
            cell.who, reply.text
        );
    }
}

fn store_body(name: &str) -> Value {
    json!({"name": name, "location": {"lat": 23.7925, "lng": 90.4078}, "category": "grocery", "tags": ["rice"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_action_answers_each_caller_exactly() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("offered", "Offered Store", 0.0, 400.0, "grocery", &["rice"])
        .await;
    api.put_store("winner", "Winner Store", 90.0, 500.0, "grocery", &["rice"])
        .await;
    api.put_store("far-away", "Far Away Store", 180.0, 2_500.0, "grocery", &["rice"])
        .await;
    let mut offered = Socket::connect(&stack, "store:offered").await;
    let mut winner = Socket::connect(&stack, "store:winner").await;
    let mut far = Socket::connect(&stack, "store:far-away").await;
    let mut owner = Socket::connect(&stack, "customer:owner").await;

    // Public routes.
    for who in [ANON, OWNER, NOT_OFFERED] {
        assert_eq!(api.call("GET", "/health", who, None).await.status, 200);
        assert_eq!(api.call("GET", "/.well-known/jwks.json", who, None).await.status, 200);
        assert_eq!(
            api.call("GET", "/.well-known/openid-configuration", who, None)
                .await
                .status,
            200
        );
    }
    let guest = api.call("POST", "/auth/guest", ANON, None).await;
    assert_eq!(guest.status, 201);
    let guest_token = guest.body["token"].as_str().expect("token");
    let me = api
        .http
        .post(format!("{}/demand/parse", api.base))
        .bearer_auth(guest_token)
        .header("content-type", "application/json")
        .body(r#"{"text":"rice"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(me.status(), 200, "a guest token works");

    // Routes without an order.
    let order_body = json!({"text": "2 kg rice", "location": {"lat": 23.7925, "lng": 90.4078}});
    check(
        &api,
        "POST",
        "/demand/parse",
        Some(json!({"text": "rice"})),
        row([401, 200, 200, 200, 200, 200]),
    )
    .await;
    // A number is attached or verified only with its code: customers get
    // past the caller check to the code check (401 `code_invalid` for a
    // code never sent), stores never do.
    let no_code = json!({"phone": "01712345678", "code": "000000"});
    for path in ["/customers/me/phone", "/auth/upgrade"] {
        let method = if path == "/auth/upgrade" { "POST" } else { "PUT" };
        check(
            &api,
            method,
            path,
            Some(no_code.clone()),
            row([401, 401, 401, 403, 403, 403]),
        )
        .await;
        let refused = api.call(method, path, OWNER, Some(no_code.to_string())).await;
        assert_eq!(
            refused.body["error"]["code"], "code_invalid",
            "{path}: {}",
            refused.text
        );
    }
    let with_code = api.attach_phone("owner", "01712345670").await;
    assert_eq!(with_code.status, 200, "{}", with_code.text);

    // Signing in is public: anyone may ask for a code, and a token of any
    // kind changes nothing.
    for who in [ANON, OWNER, NOT_OFFERED] {
        let sent = api
            .call(
                "POST",
                "/auth/sign-in",
                who,
                Some(json!({"phone": "01812345670"}).to_string()),
            )
            .await;
        assert_eq!(sent.status, 202, "{who:?}: {}", sent.text);
        let wrong = json!({"phone": "01812345670", "code": "000000", "role": "customer"});
        let verify = api
            .call("POST", "/auth/sign-in/verify", who, Some(wrong.to_string()))
            .await;
        assert_eq!(verify.status, 401, "{who:?}: {}", verify.text);
        let forged = json!({"refresh_token": format!("{}.{}", "a".repeat(32), "b".repeat(64))});
        for path in ["/auth/refresh", "/auth/sign-out"] {
            let reply = api.call("POST", path, who, Some(forged.to_string())).await;
            assert_eq!(reply.status, 401, "{path} as {who:?}: {}", reply.text);
        }
    }
    // (Far from every store, so these orders alert nobody.)
    let elsewhere = json!({"text": "2 kg rice", "location": {"lat": 22.3569, "lng": 91.7832}});
    check(
        &api,
        "POST",
        "/orders",
        Some(elsewhere),
        row([401, 201, 201, 403, 403, 403]),
    )
    .await;
    check(
        &api,
        "GET",
        "/stores/offered",
        None,
        row([401, 403, 403, 200, 403, 403]),
    )
    .await;
    check(
        &api,
        "GET",
        "/stores/offered/offers",
        None,
        row([401, 403, 403, 200, 403, 403]),
    )
    .await;
    check(
        &api,
        "GET",
        "/stores/offered/orders",
        None,
        row([401, 403, 403, 200, 403, 403]),
    )
    .await;
    check(
        &api,
        "PATCH",
        "/stores/offered",
        Some(json!({"open": true})),
        row([401, 403, 403, 200, 403, 403]),
    )
    .await;
    check(
        &api,
        "PUT",
        "/stores/offered",
        Some(store_body("Offered Store")),
        row([401, 403, 403, 200, 403, 403]),
    )
    .await;

    // The order under test, owned by `owner`; offered to `offered` and `winner`.
    let created = api.call("POST", "/orders", OWNER, Some(order_body.to_string())).await;
    let id = created.body["order_id"].as_str().expect("id").to_string();
    let offer = offered.expect("offer", LONG).await;
    assert_eq!(offer["order_id"], id.as_str(), "{offer} vs {}", created.text);
    winner.expect("offer", LONG).await;
    far.expect_silence(common::SHORT).await;
    let order = format!("/orders/{id}");

    // While searching.
    check(&api, "GET", &order, None, row([401, 200, 404, 403, 404, 403])).await;
    // A store not offered the order is answered as for an order that does
    // not exist: no store can tell which order ids are real.
    let unknown = api
        .call("GET", "/orders/01JUNKJUNKJUNKJUNKJUNKJUNK", NOT_OFFERED, None)
        .await;
    let not_offered = api.call("GET", &order, NOT_OFFERED, None).await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].clone()),
        (not_offered.status, not_offered.body["error"]["code"].clone()),
        "{} vs {}",
        unknown.text,
        not_offered.text
    );
    check(
        &api,
        "POST",
        &format!("{order}/cancel"),
        None,
        [ANON, OTHER, OFFERED, NOT_OFFERED]
            .into_iter()
            .zip([401, 404, 403, 403])
            .map(|(who, status)| Cell { who, status })
            .collect(),
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/accept"),
        None,
        [ANON, OWNER, OTHER, NOT_OFFERED]
            .into_iter()
            .zip([401, 403, 403, 403])
            .map(|(who, status)| Cell { who, status })
            .collect(),
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/decline"),
        None,
        [ANON, OWNER, OTHER, NOT_OFFERED]
            .into_iter()
            .zip([401, 403, 403, 403])
            .map(|(who, status)| Cell { who, status })
            .collect(),
    )
    .await;
    // WebSocket actions: a customer may not accept; a store not offered learns nothing.
    owner.send(json!({"action": "accept", "order_id": id})).await;
    assert_eq!(owner.expect("error", LONG).await["code"], "forbidden");
    far.send(json!({"action": "accept", "order_id": id})).await;
    assert_eq!(far.expect("error", LONG).await["code"], "not_offered");
    far.send(json!({"action": "sync"})).await;
    assert_eq!(far.expect("synced", LONG).await["offers_resent"], 0);

    // The offered store declines; the winner accepts.
    check(
        &api,
        "POST",
        &format!("{order}/decline"),
        None,
        vec![Cell {
            who: OFFERED,
            status: 200,
        }],
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/accept"),
        None,
        vec![Cell {
            who: OFFERED,
            status: 409,
        }],
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/accept"),
        None,
        vec![Cell {
            who: WINNER,
            status: 200,
        }],
    )
    .await;

    // After acceptance: the winner now sees the order, with where to deliver.
    check(&api, "GET", &order, None, row([401, 200, 404, 403, 404, 200])).await;
    check(
        &api,
        "POST",
        &format!("{order}/accept"),
        None,
        // The winner's repeat is a retry whose answer was lost: the same 200.
        row([401, 403, 403, 409, 403, 200]),
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/decline"),
        None,
        row([401, 403, 403, 409, 403, 409]),
    )
    .await;
    // Giving the order back: only the winner may; an empty reason changes
    // nothing; a store never offered the order learns nothing (404, as for
    // every step after acceptance).
    let no_reason = json!({"text": ""});
    check(
        &api,
        "POST",
        &format!("{order}/store-cancel"),
        Some(no_reason),
        row([401, 403, 403, 403, 404, 422]),
    )
    .await;
    // Fulfilment: each step by its one rightful actor; strangers learn nothing (404).
    let packed = json!({"line": 0, "outcome": "packed", "price": 9_600});
    check(
        &api,
        "POST",
        &format!("{order}/pack"),
        Some(packed),
        row([401, 403, 404, 403, 404, 200]),
    )
    .await;
    let pickup = json!({"kind": "pickup"});
    check(
        &api,
        "POST",
        &format!("{order}/delivery"),
        Some(pickup),
        row([401, 200, 404, 403, 404, 403]),
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/handover"),
        None,
        row([401, 403, 404, 403, 404, 200]),
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/complete"),
        None,
        row([401, 200, 404, 403, 404, 409]),
    )
    .await;
    let review = json!({"stars": 5});
    check(
        &api,
        "POST",
        &format!("{order}/review"),
        Some(review),
        row([401, 200, 404, 403, 404, 403]),
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/share"),
        None,
        row([401, 200, 404, 403, 403, 403]),
    )
    .await;
    // The link the owner made is public; a guessed secret finds nothing.
    let shared = api.call("POST", &format!("{order}/share"), OWNER, None).await;
    let share_id = shared.body["share_id"].as_str().expect("share id").to_string();
    check(
        &api,
        "GET",
        &format!("/share/{share_id}"),
        None,
        row([200, 200, 200, 200, 200, 200]),
    )
    .await;
    let (order_part, _) = share_id.split_once('.').expect("order.secret");
    check(
        &api,
        "GET",
        &format!("/share/{order_part}.{}", "0".repeat(32)),
        None,
        row([404, 404, 404, 404, 404, 404]),
    )
    .await;
    let answer_substitute = json!({"line": 0, "accept": true});
    check(
        &api,
        "POST",
        &format!("{order}/substitute"),
        Some(answer_substitute),
        row([401, 409, 404, 403, 404, 403]),
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/drop"),
        Some(json!({"line": 0})),
        row([401, 409, 404, 403, 404, 403]),
    )
    .await;
    check(
        &api,
        "POST",
        &format!("{order}/cancel"),
        None,
        row([401, 409, 404, 403, 403, 403]),
    )
    .await;
    // The customer's own lists.
    check(
        &api,
        "GET",
        "/customers/me/orders",
        None,
        row([401, 200, 200, 403, 403, 403]),
    )
    .await;
    check(
        &api,
        "GET",
        "/customers/me/home",
        None,
        row([401, 200, 200, 403, 403, 403]),
    )
    .await;
    let rice = json!({"name": "rice", "amount": "1", "unit": "kg"});
    check(
        &api,
        "PUT",
        "/customers/me/home/rice:kg",
        Some(rice),
        row([401, 200, 200, 403, 403, 403]),
    )
    .await;
    check(
        &api,
        "DELETE",
        "/customers/me/home/rice:kg",
        None,
        row([401, 200, 200, 403, 403, 403]),
    )
    .await;
    // A socket receives only its owner's events: the far store saw nothing.
    far.expect_silence(common::SHORT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_unsigned_tokens_are_refused_on_http_and_websocket() {
    let stack = stack(OrderingConfig::default()).await;
    let customer = Caller::Customer(CustomerId::new("c1").expect("id"));
    let now = SystemClock.now_ms();
    let expired = stack
        .issuer()
        .issue_with_lifetime(&customer, now - 7_200_000, 60)
        .expect("signed");
    let stranger = shared::auth::TokenIssuer::generate(stack.http_url()).expect("key");
    let forged = stranger.issue(&customer, now).expect("signed");
    let genuine = stack.issue_token(&customer).expect("signed");
    let body = genuine.split('.').nth(1).expect("claims").to_string();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}.");
    let client = reqwest::Client::new();
    for (name, token) in [("expired", &expired), ("forged", &forged), ("alg none", &unsigned)] {
        let reply = client
            .post(format!("{}/demand/parse", stack.http_url()))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(r#"{"text":"rice"}"#)
            .send()
            .await
            .expect("sent");
        assert_eq!(reply.status(), 401, "{name} over HTTP");
        // The authorizer's Deny policy: API Gateway answers 403.
        let refused = connect_async(format!("{}?token={token}", stack.ws_url())).await;
        match refused {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403, "{name} on $connect"),
            other => panic!("{name}: expected 403 on $connect, got {other:?}"),
        }
    }
    let ok = client
        .post(format!("{}/demand/parse", stack.http_url()))
        .bearer_auth(&genuine)
        .header("content-type", "application/json")
        .body(r#"{"text":"rice"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.status(), 200, "the genuine token passes");
}

/// The operator role: only an operator may call `/operator/...` (every
/// other caller 403, anonymous 401); only a signed-in customer may apply
/// for a store; an operator is refused every customer and store route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_routes_answer_each_role_exactly() {
    const OPERATOR: Option<&str> = Some("operator:o1");
    const STORE: Option<&str> = Some("store:offered");
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("offered", "Offered Store", 0.0, 400.0, "grocery", &["rice"])
        .await;
    let mut application = store_body("Applicant Store");
    application["phone"] = json!("01711000009");
    let applied = api
        .call("POST", "/store-applications", OWNER, Some(application.to_string()))
        .await;
    assert_eq!(applied.status, 202, "{}", applied.text);
    let id = applied.body["store_id"].as_str().expect("store id").to_string();
    let cells = |statuses: [u16; 4]| -> Vec<Cell> {
        [ANON, OWNER, STORE, OPERATOR]
            .into_iter()
            .zip(statuses)
            .map(|(who, status)| Cell { who, status })
            .collect()
    };
    check(&api, "GET", "/operator/stores", None, cells([401, 403, 403, 200])).await;
    check(
        &api,
        "POST",
        "/store-applications",
        Some(application.clone()),
        cells([401, 202, 403, 403]),
    )
    .await;
    // Refused callers change nothing: the store is still pending when the
    // operator approves it.
    let reason = json!({"reason": "checking"});
    for (action, body, operator_status) in [
        ("approve", None, 200),
        ("suspend", Some(reason), 200),
        ("reinstate", None, 200),
    ] {
        check(
            &api,
            "POST",
            &format!("/operator/stores/{id}/{action}"),
            body,
            cells([401, 403, 403, operator_status]),
        )
        .await;
    }
    // An operator is neither a customer nor a store.
    let order_body = json!({"text": "2 kg rice", "location": {"lat": 22.3569, "lng": 91.7832}});
    let order = api.call("POST", "/orders", OWNER, Some(order_body.to_string())).await;
    let order_id = order.body["order_id"].as_str().expect("order id").to_string();
    for (method, path, body) in [
        ("POST", "/orders".to_string(), Some(order_body.clone())),
        (
            "PUT",
            "/customers/me/phone".to_string(),
            Some(json!({"phone": "01712345678"})),
        ),
        ("GET", "/customers/me/orders".to_string(), None),
        ("GET", "/customers/me/home".to_string(), None),
        ("GET", "/stores/offered".to_string(), None),
        ("PUT", "/stores/offered".to_string(), Some(store_body("Offered Store"))),
        ("GET", "/stores/offered/offers".to_string(), None),
        ("GET", format!("/orders/{order_id}"), None),
        ("POST", format!("/orders/{order_id}/cancel"), None),
        ("POST", format!("/orders/{order_id}/accept"), None),
        ("POST", format!("/orders/{order_id}/decline"), None),
    ] {
        let reply = api.call(method, &path, OPERATOR, body.map(|b| b.to_string())).await;
        assert_eq!(reply.status, 403, "{method} {path} as an operator: {}", reply.text);
    }
}
