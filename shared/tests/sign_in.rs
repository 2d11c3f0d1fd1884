//! Signing in under races, on the embedded storage with a manual clock: two
//! checks of one right code make one session, and two refreshes of one
//! token rotate it at most once.

use std::sync::Arc;
use std::time::Duration;

use shared::auth::TokenIssuer;
use shared::domain::account::Role;
use shared::domain::clock::{Clock, ManualClock};
use shared::domain::config::OrderingConfig;
use shared::domain::customer::PhoneNumber;
use shared::embedded::{ConnectionHub, EmbeddedQueue, EmbeddedTexts};
use shared::usecases::sign_in::{RefreshError, SignInError};
use shared::wiring::{EmbeddedApp, embedded_app};

fn app() -> (EmbeddedApp, Arc<EmbeddedTexts>) {
    let texts = Arc::new(EmbeddedTexts::default());
    let clock = Arc::new(ManualClock::at(1_800_000_000_000)) as Arc<dyn Clock>;
    let issuer = Arc::new(TokenIssuer::generate("https://auth.test").expect("key"));
    let app = embedded_app(
        Arc::new(EmbeddedQueue::new("timers", Duration::from_secs(30))),
        ConnectionHub::default(),
        clock,
        OrderingConfig::default(),
        issuer,
        Arc::clone(&texts),
    );
    (app, texts)
}

fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .expect("a code")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_checks_of_one_right_code_make_one_session() {
    let (app, texts) = app();
    let phone = PhoneNumber::new("01712345678").expect("phone");
    for _ in 0..3 {
        app.sign_in().request_code(&phone, "10.0.0.1").await.expect("sent");
        let code = code_in(&texts.last_text_to(&phone).expect("text"));
        let (one, two) = (app.sign_in(), app.sign_in());
        let (a, b) = tokio::join!(
            one.sign_in(&phone, &code, Role::Customer, "10.0.0.1"),
            two.sign_in(&phone, &code, Role::Customer, "10.0.0.2"),
        );
        let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "{a:?} {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(matches!(loser, Err(SignInError::CodeInvalid)), "{loser:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_refreshes_of_one_token_rotate_it_at_most_once() {
    let (app, texts) = app();
    let phone = PhoneNumber::new("01712345678").expect("phone");
    app.sign_in().request_code(&phone, "10.0.0.1").await.expect("sent");
    let code = code_in(&texts.last_text_to(&phone).expect("text"));
    let session = app
        .sign_in()
        .sign_in(&phone, &code, Role::Customer, "10.0.0.1")
        .await
        .expect("signed in");
    let (one, two) = (app.sign_in(), app.sign_in());
    let (a, b) = tokio::join!(one.refresh(&session.refresh_token), two.refresh(&session.refresh_token),);
    let wins: Vec<_> = [&a, &b].into_iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(wins.len() <= 1, "{a:?} {b:?}");
    assert!(
        [&a, &b].iter().any(|r| matches!(r, Err(RefreshError::Invalid))),
        "{a:?} {b:?}"
    );
    // Whoever won holds a token of a family that saw a copy: it is revoked.
    for won in wins {
        assert!(matches!(
            app.sign_in().refresh(&won.refresh_token).await,
            Err(RefreshError::Invalid)
        ));
    }
}
