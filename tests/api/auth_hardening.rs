//! Issue 20, hardening: the login limit holds when attempts arrive at once.

use serde_json::json;

use crate::helpers::{Gql, LOGIN, PASSWORD, TestApp};

const EMAIL: &str = "owner@acme.example";
const WRONG: &str = "not-the-password";

/// Sends one login per password, all at once.
async fn logins_at_once(app: &TestApp, passwords: &[&str]) -> Vec<Gql> {
    let login = |password: &str| {
        app.gql(
            LOGIN,
            json!({ "input": { "email": EMAIL, "password": password } }),
        )
    };
    futures::future::join_all(passwords.iter().map(|password| login(password))).await
}

fn count_code(responses: &[Gql], code: &str) -> usize {
    responses.iter().filter(|r| r.code() == Some(code)).count()
}

async fn attempts(app: &TestApp, condition: &str) -> i64 {
    app.count("user_logins", &format!("email = '{EMAIL}' AND {condition}"))
        .await
}

#[tokio::test]
async fn forty_wrong_passwords_at_once_have_only_the_limit_checked() {
    let app = TestApp::spawn().await;
    app.sign_up("acme").await;
    let limit = app.config.limits.login_max_failures as usize;

    let responses = logins_at_once(&app, &[WRONG; 40]).await;

    assert_eq!(count_code(&responses, "UNAUTHENTICATED"), limit);
    assert_eq!(count_code(&responses, "RATE_LIMITED"), 40 - limit);
    let checked = attempts(&app, "failure_reason = 'invalid_credentials'").await;
    let refused = attempts(&app, "failure_reason = 'rate_limited'").await;
    assert_eq!((checked, refused), (limit as i64, 40 - limit as i64));
    assert_eq!(attempts(&app, "failure_reason = 'checking'").await, 0);
}

#[tokio::test]
async fn a_right_password_among_wrong_ones_at_once_is_checked_only_within_the_limit() {
    let app = TestApp::spawn().await;
    app.sign_up("acme").await;
    let limit = app.config.limits.login_max_failures as i64;
    let mut passwords = vec![WRONG; 39];
    passwords.insert(20, PASSWORD);

    let responses = logins_at_once(&app, &passwords).await;

    // Whichever attempts came first were checked, the right one possibly
    // among them; every later one was refused unchecked.
    let wrong = attempts(&app, "failure_reason = 'invalid_credentials'").await;
    let signed_in = attempts(&app, "success = true").await;
    assert!(wrong + signed_in <= limit, "{wrong} + {signed_in} checked");
    assert_eq!(
        count_code(&responses, "RATE_LIMITED") as i64,
        40 - wrong - signed_in
    );
    assert_eq!(
        attempts(&app, "failure_reason = 'rate_limited'").await,
        40 - wrong - signed_in
    );
    let succeeded = responses.iter().filter(|r| r.is_ok()).count() as i64;
    assert_eq!(succeeded, signed_in);
}

#[tokio::test]
async fn once_locked_by_attempts_at_once_the_right_password_is_refused() {
    let app = TestApp::spawn().await;
    app.sign_up("acme").await;
    logins_at_once(&app, &[WRONG; 40]).await;

    let right = app
        .gql(
            LOGIN,
            json!({ "input": { "email": EMAIL, "password": PASSWORD } }),
        )
        .await;

    right.expect_error("RATE_LIMITED");
    assert_eq!(attempts(&app, "success = true").await, 0);
}
