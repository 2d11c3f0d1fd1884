//! Signing in with a phone number, over real HTTP on either backend: the
//! code comes from the SMS port (the local stack's development route on
//! the embedded backend, the texts moto recorded on the endpoint backend).
//! Sessions refresh and end; a copied refresh token ends its family; codes
//! are wrong, expired or used alike; limits answer 429; and a guest who
//! verifies a number keeps their orders and home.

use std::sync::Arc;

use crate::common;

use common::{Api, Socket, fresh_phone, stack, stack_with};
use local_stack::LocalOptions;
use serde_json::{Value, json};
use shared::domain::clock::{Clock, ManualClock, SystemClock};
use shared::domain::config::OrderingConfig;
use shared::domain::customer::PhoneNumber;
use shared::domain::demand::item::bangla_digits;

fn str_of<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field].as_str().unwrap_or_else(|| panic!("{field} in {body}"))
}

async fn refresh(api: &Api, token: &str) -> common::Reply {
    api.call_with_token("POST", "/auth/refresh", None, Some(json!({ "refresh_token": token })))
        .await
}

async fn verify(api: &Api, phone: &str, code: &str) -> common::Reply {
    api.call_with_token(
        "POST",
        "/auth/sign-in/verify",
        None,
        Some(json!({ "phone": phone, "code": code, "role": "customer" })),
    )
    .await
}

async fn my_orders(api: &Api, access: &str) -> common::Reply {
    api.call_with_token("GET", "/customers/me/orders", Some(access), None)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_signs_in_refreshes_and_signs_out() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let phone = fresh_phone();

    let session = api.sign_in(&phone, "customer").await;
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["caller"]["kind"], "customer");
    let customer = session["caller"]["id"].as_str().expect("caller id");
    assert!(
        !customer.starts_with("g-"),
        "a signed-in customer is not a guest: {customer}"
    );
    assert!(session["expires_in"].as_i64().expect("expires_in") > 0);
    assert_eq!(my_orders(&api, str_of(&session, "access_token")).await.status, 200);

    // The same number signs in as the same customer next time.
    let again = api.sign_in(&phone, "customer").await;
    assert_eq!(again["caller"], session["caller"]);
    // Typed on a Bangla keyboard, it is the same number.
    let bangla = bangla_digits(&phone);
    let sent = api
        .call_with_token("POST", "/auth/sign-in", None, Some(json!({ "phone": bangla })))
        .await;
    assert_eq!(sent.status, 202, "{}", sent.text);
    let code = common::code_in(&api.last_text(&phone).await.expect("a text was sent"));
    // And so is the code.
    let bangla_code = bangla_digits(&code);
    let in_bangla = verify(&api, &bangla, &bangla_code).await;
    assert_eq!(in_bangla.status, 200, "{}", in_bangla.text);
    assert_eq!(in_bangla.body["caller"], session["caller"]);

    // A refresh gives new tokens; the access token works.
    let first = str_of(&session, "refresh_token").to_string();
    let renewed = refresh(&api, &first).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_eq!(renewed.body["caller"], session["caller"]);
    assert_ne!(
        str_of(&renewed.body, "refresh_token"),
        first,
        "the refresh token rotates"
    );
    assert_eq!(my_orders(&api, str_of(&renewed.body, "access_token")).await.status, 200);

    // Sign-out: the refresh token no longer refreshes.
    let latest = str_of(&renewed.body, "refresh_token").to_string();
    let out = api
        .call_with_token("POST", "/auth/sign-out", None, Some(json!({ "refresh_token": latest })))
        .await;
    assert_eq!(
        (out.status, &out.body["signed_out"]),
        (200, &json!(true)),
        "{}",
        out.text
    );
    let twice = api
        .call_with_token("POST", "/auth/sign-out", None, Some(json!({ "refresh_token": latest })))
        .await;
    assert_eq!(twice.status, 200, "signing out again answers the same: {}", twice.text);
    let after = refresh(&api, &latest).await;
    assert_eq!(after.status, 401, "{}", after.text);
    assert_eq!(after.body["error"]["code"], "refresh_token_invalid");

    // The other session (the second sign-in) is untouched by that sign-out.
    let other = refresh(&api, str_of(&again, "refresh_token")).await;
    assert_eq!(other.status, 200, "{}", other.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_used_twice_revokes_its_whole_family() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let session = api.sign_in(&fresh_phone(), "customer").await;
    let stolen = str_of(&session, "refresh_token").to_string();

    let owner = refresh(&api, &stolen).await;
    assert_eq!(owner.status, 200);
    let owners_next = str_of(&owner.body, "refresh_token").to_string();

    // The copy comes back: refused, and the family with it.
    let thief = refresh(&api, &stolen).await;
    assert_eq!(thief.status, 401, "{}", thief.text);
    assert_eq!(thief.body["error"]["code"], "refresh_token_invalid");
    let owner_again = refresh(&api, &owners_next).await;
    assert_eq!(
        owner_again.status, 401,
        "the whole family is revoked: {}",
        owner_again.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_everywhere_ends_every_session_of_the_caller() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let phone = fresh_phone();
    let lost_phone = api.sign_in(&phone, "customer").await;
    let new_phone = api.sign_in(&phone, "customer").await;
    let out = api
        .call_with_token(
            "POST",
            "/auth/sign-out",
            None,
            Some(json!({ "refresh_token": str_of(&new_phone, "refresh_token"), "everywhere": true })),
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.text);
    for session in [&lost_phone, &new_phone] {
        let reply = refresh(&api, str_of(session, "refresh_token")).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    // Signing in again starts afresh.
    let later = api.sign_in(&phone, "customer").await;
    assert_eq!(refresh(&api, str_of(&later, "refresh_token")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_used_and_expired_codes_are_refused_alike() {
    // The clock stands still until told, so expiry needs no sleeping.
    let clock = Arc::new(ManualClock::at(SystemClock.now_ms()));
    let stack = stack_with(LocalOptions {
        clock: clock.clone(),
        ..LocalOptions::default()
    })
    .await;
    let api = Api::new(&stack);
    let phone = fresh_phone();
    let code = api.sign_in_code(&phone).await;
    let wrong_code = format!("{:06}", (code.parse::<u32>().expect("digits") + 1) % 1_000_000);

    let wrong = verify(&api, &phone, &wrong_code).await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert_eq!(wrong.body["error"]["code"], "code_invalid");
    assert_eq!(
        verify(&api, &phone, &code).await.status,
        200,
        "the right code still works"
    );
    let used = verify(&api, &phone, &code).await;
    assert_eq!((used.status, &used.body), (401, &wrong.body), "used: {}", used.text);

    let code = api.sign_in_code(&phone).await;
    clock.advance_ms(5 * 60_000);
    let expired = verify(&api, &phone, &code).await;
    assert_eq!(
        (expired.status, &expired.body),
        (401, &wrong.body),
        "expired: {}",
        expired.text
    );

    // Never sent at all: the same answer.
    let never = verify(&api, &fresh_phone(), &code).await;
    assert_eq!((never.status, &never.body), (401, &wrong.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_and_sends_are_limited_with_429() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let phone = fresh_phone();
    let code = api.sign_in_code(&phone).await;
    let wrong_code = format!("{:06}", (code.parse::<u32>().expect("digits") + 1) % 1_000_000);
    for _ in 0..5 {
        assert_eq!(verify(&api, &phone, &wrong_code).await.status, 401);
    }
    let dead = verify(&api, &phone, &code).await;
    assert_eq!(dead.status, 401, "five wrong attempts kill the code: {}", dead.text);

    // Three codes per number in 15 minutes (one sent above).
    for _ in 0..2 {
        api.sign_in_code(&phone).await;
    }
    let limited = api
        .call_with_token("POST", "/auth/sign-in", None, Some(json!({ "phone": phone })))
        .await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert_eq!(limited.body["error"]["code"], "rate_limited");
    let retry_after: u64 = str_of(&limited.body, "retry_after_header").parse().expect("seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");

    // Code checks per source address: 60 an hour, whatever the numbers.
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(verify(&api, &fresh_phone(), "123456").await.status);
    }
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    let blocked = verify(&api, &fresh_phone(), "123456").await;
    assert_eq!(blocked.status, 429, "{}", blocked.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_code_tells_nothing_about_the_number() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let known = fresh_phone();
    api.sign_in(&known, "customer").await;
    let unknown = fresh_phone();
    let for_known = api
        .call_with_token("POST", "/auth/sign-in", None, Some(json!({ "phone": known })))
        .await;
    let for_unknown = api
        .call_with_token("POST", "/auth/sign-in", None, Some(json!({ "phone": unknown })))
        .await;
    assert_eq!(for_known.status, 202);
    assert_eq!(
        (for_known.status, &for_known.text),
        (for_unknown.status, &for_unknown.text)
    );
    assert_eq!(for_known.body, json!({ "expires_in": 300 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopkeeper_applies_is_approved_by_an_operator_signs_in_as_the_store_and_trades() {
    // Nobody here holds a development token: every token comes from a code.
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let operator_phone = fresh_phone();
    stack
        .appoint_operator(&PhoneNumber::new(&operator_phone).expect("phone"))
        .await
        .expect("appointed");
    let operator = api.sign_in(&operator_phone, "operator").await;
    assert_eq!(operator["caller"]["kind"], "operator");
    let operator_token = str_of(&operator, "access_token").to_string();

    // The shopkeeper signs in as a customer and applies with that number.
    let phone = fresh_phone();
    let shopkeeper = api.sign_in(&phone, "customer").await;
    let at = common::customer_point().offset(0.0, 300.0);
    let applied = api
        .call_with_token(
            "POST",
            "/store-applications",
            Some(str_of(&shopkeeper, "access_token")),
            Some(json!({
                "phone": phone,
                "name": "Signed-in Store",
                "location": { "lat": at.lat(), "lng": at.lng() },
                "category": "grocery",
                "tags": ["rice"],
            })),
        )
        .await;
    assert_eq!(applied.status, 202, "{}", applied.text);
    let store_id = str_of(&applied.body, "store_id").to_string();

    // Before approval the number holds no store.
    let early = api.sign_in_code(&phone).await;
    let refused = api
        .call_with_token(
            "POST",
            "/auth/sign-in/verify",
            None,
            Some(json!({ "phone": phone, "code": early, "role": "store" })),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.body["error"]["code"], "role_not_held");

    let approved = api
        .call_with_token(
            "POST",
            &format!("/operator/stores/{store_id}/approve"),
            Some(&operator_token),
            None,
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);

    // The store signs in, goes online with that token and wins an order.
    let session = api.sign_in(&phone, "store").await;
    assert_eq!(session["caller"], json!({ "kind": "store", "id": store_id }));
    let access = str_of(&session, "access_token").to_string();
    let mut socket = Socket::connect_token(&stack, &access).await;
    let order = api.order("c-buyer", "rice").await;
    assert_eq!(order.status, 201, "{}", order.text);
    let order_id = str_of(&order.body, "order_id").to_string();
    socket.expect("offer", common::LONG).await;
    let accepted = api
        .call_with_token("POST", &format!("/orders/{order_id}/accept"), Some(&access), None)
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let renewed = refresh(&api, str_of(&session, "refresh_token")).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_eq!(renewed.body["caller"], session["caller"]);

    // Suspended, the store's session cannot be renewed: it ends within one
    // access token's lifetime.
    let suspended = api
        .call_with_token(
            "POST",
            &format!("/operator/stores/{store_id}/suspend"),
            Some(&operator_token),
            Some(json!({ "reason": "complaints" })),
        )
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    let after = refresh(&api, str_of(&renewed.body, "refresh_token")).await;
    assert_eq!(after.status, 401, "{}", after.text);
    assert_eq!(after.body["error"]["code"], "refresh_token_invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_who_verifies_a_number_keeps_orders_and_home_and_is_no_longer_a_guest() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("up-store", "Upgrade Store", 0.0, 300.0, "grocery", &["rice"])
        .await;
    let _store = Socket::connect(&stack, "store:up-store").await;

    let guest = api.call_with_token("POST", "/auth/guest", None, None).await;
    assert_eq!(guest.status, 201, "{}", guest.text);
    let guest_id = str_of(&guest.body, "customer_id").to_string();
    let guest_token = str_of(&guest.body, "token").to_string();
    // Guests get a refresh token too: their access token is short-lived.
    let guest_refresh = refresh(&api, str_of(&guest.body, "refresh_token")).await;
    assert_eq!(guest_refresh.status, 200, "{}", guest_refresh.text);
    assert_eq!(guest_refresh.body["caller"]["id"], guest_id.as_str());

    let order =
        json!({ "text": "2 kg rice", "location": { "lat": common::CUSTOMER_LAT, "lng": common::CUSTOMER_LNG } });
    let placed = api
        .call_with_token("POST", "/orders", Some(&guest_token), Some(order.clone()))
        .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order_id = str_of(&placed.body, "order_id").to_string();
    let home_item = json!({ "name": "rice", "amount": "1", "unit": "kg" });
    let home = api
        .call_with_token("PUT", "/customers/me/home/rice:kg", Some(&guest_token), Some(home_item))
        .await;
    assert_eq!(home.status, 200, "{}", home.text);
    // A guest searches one order at a time.
    let second = api
        .call_with_token("POST", "/orders", Some(&guest_token), Some(order.clone()))
        .await;
    assert_eq!(second.status, 429, "{}", second.text);

    let phone = fresh_phone();
    let code = api.sign_in_code(&phone).await;
    let upgraded = api
        .call_with_token(
            "POST",
            "/auth/upgrade",
            Some(&guest_token),
            Some(json!({ "phone": phone, "code": code })),
        )
        .await;
    assert_eq!(upgraded.status, 200, "{}", upgraded.text);
    assert_eq!(upgraded.body["caller"]["id"], guest_id.as_str(), "same customer");
    let access = str_of(&upgraded.body, "access_token").to_string();

    let history = my_orders(&api, &access).await;
    assert_eq!(history.status, 200);
    assert_eq!(
        history.body["orders"][0]["order_id"],
        order_id.as_str(),
        "{}",
        history.text
    );
    let home = api
        .call_with_token("GET", "/customers/me/home", Some(&access), None)
        .await;
    assert!(home.text.contains("rice"), "{}", home.text);

    // A known customer now: more than one order may search at once.
    let third = api.call_with_token("POST", "/orders", Some(&access), Some(order)).await;
    assert_eq!(third.status, 201, "{}", third.text);

    // Signing in with the number later is signing in as the same customer.
    let later = api.sign_in(&phone, "customer").await;
    assert_eq!(later["caller"]["id"], guest_id.as_str());

    // Another guest cannot take the number over.
    let other = api.call_with_token("POST", "/auth/guest", None, None).await;
    let code = api.sign_in_code(&phone).await;
    let taken = api
        .call_with_token(
            "POST",
            "/auth/upgrade",
            Some(str_of(&other.body, "token")),
            Some(json!({ "phone": phone, "code": code })),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.text);
    assert_eq!(taken.body["error"]["code"], "phone_has_account");
}
