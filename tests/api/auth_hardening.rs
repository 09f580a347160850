//! Issue 20, hardening: the login limit holds when attempts arrive at once,
//! and logout ends a session's access tokens, not only its refresh tokens.

use serde_json::json;

use crate::helpers::{Gql, LOGIN, PASSWORD, PAYLOAD_FIELDS, Session, TestApp};

const ME: &str = "{ me { role tenant { slug } } }";
const REFRESH: &str = "mutation($token: String!) { refreshToken(token: $token) { accessToken refreshToken expiresAt role user { id email name } tenant { id name slug } } }";
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

/// `me` with `token`: its role, or the refusal.
async fn me(app: &TestApp, token: &str) -> Gql {
    app.gql_as(token, ME, json!({})).await
}

fn assert_refused(response: &Gql, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.body);
    assert_eq!(response.code(), Some("UNAUTHENTICATED"), "{what}");
}

async fn login(app: &TestApp) -> Session {
    let response = app
        .gql(
            LOGIN,
            json!({ "input": { "email": EMAIL, "password": PASSWORD } }),
        )
        .await;
    Session::from_payload(response.data("login"), EMAIL)
}

async fn logout(app: &TestApp, session: &Session, refresh_token: Option<&str>) -> u64 {
    app.gql_as(
        &session.access_token,
        "mutation($t: String) { logout(refreshToken: $t) }",
        json!({ "t": refresh_token }),
    )
    .await
    .data("logout")
    .as_u64()
    .expect("a count")
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

#[tokio::test]
async fn after_logout_the_access_token_is_refused() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    assert_eq!(
        me(&app, &owner.access_token).await.data("me")["role"],
        "OWNER"
    );

    assert_eq!(logout(&app, &owner, Some(&owner.refresh_token)).await, 1);

    assert_refused(&me(&app, &owner.access_token).await, "logged-out token");
}

#[tokio::test]
async fn logging_out_one_session_leaves_another_session_working() {
    let app = TestApp::spawn().await;
    let first = app.sign_up("acme").await;
    let second = login(&app).await;

    logout(&app, &first, Some(&first.refresh_token)).await;

    assert_refused(&me(&app, &first.access_token).await, "the ended session");
    assert_eq!(
        me(&app, &second.access_token).await.data("me")["role"],
        "OWNER"
    );
    let refreshed = app
        .gql(REFRESH, json!({ "token": second.refresh_token }))
        .await;
    let refreshed = Session::from_payload(refreshed.data("refreshToken"), EMAIL);
    assert_eq!(
        me(&app, &refreshed.access_token).await.data("me")["role"],
        "OWNER"
    );
}

#[tokio::test]
async fn logout_without_a_token_refuses_every_access_token_of_the_user_in_the_tenant() {
    let app = TestApp::spawn().await;
    let first = app.sign_up("acme").await;
    let second = login(&app).await;
    let colleague = app
        .add_member(&first, "colleague@acme.example", "MEMBER")
        .await;

    assert_eq!(logout(&app, &first, None).await, 2);

    assert_refused(&me(&app, &first.access_token).await, "the caller's session");
    assert_refused(&me(&app, &second.access_token).await, "the other session");
    // Another user's session in the tenant is theirs to end.
    assert_eq!(
        me(&app, &colleague.access_token).await.data("me")["role"],
        "MEMBER"
    );
}

#[tokio::test]
async fn refreshed_and_switched_sessions_work_until_their_own_logout() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("other").await;
    app.add_member(&other, EMAIL, "MEMBER").await;

    let refreshed = app
        .gql(REFRESH, json!({ "token": owner.refresh_token }))
        .await;
    let refreshed = Session::from_payload(refreshed.data("refreshToken"), EMAIL);
    let switched = app
        .gql_as(
            &refreshed.access_token,
            &format!("mutation($id: ID!) {{ switchTenant(tenantId: $id) {PAYLOAD_FIELDS} }}"),
            json!({ "id": other.tenant_id }),
        )
        .await;
    let switched = Session::from_payload(switched.data("switchTenant"), EMAIL);

    // A refresh continues the session: its access tokens, old and new, work.
    assert_eq!(refreshed.session_id(), owner.session_id());
    assert_eq!(
        me(&app, &owner.access_token).await.data("me")["role"],
        "OWNER"
    );
    assert_eq!(
        me(&app, &refreshed.access_token).await.data("me")["role"],
        "OWNER"
    );
    assert_eq!(
        me(&app, &switched.access_token).await.data("me")["role"],
        "MEMBER"
    );

    // Ending the session in the other tenant leaves the first one.
    logout(&app, &switched, Some(&switched.refresh_token)).await;
    assert_refused(&me(&app, &switched.access_token).await, "switched session");
    assert_eq!(
        me(&app, &refreshed.access_token).await.data("me")["role"],
        "OWNER"
    );

    // Ending the first one ends its access tokens from before the refresh too.
    logout(&app, &refreshed, Some(&refreshed.refresh_token)).await;
    assert_refused(&me(&app, &owner.access_token).await, "pre-refresh token");
    assert_refused(&me(&app, &refreshed.access_token).await, "refreshed token");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_ends_the_session_s_access_tokens() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let refreshed = app
        .gql(REFRESH, json!({ "token": owner.refresh_token }))
        .await;
    let refreshed = Session::from_payload(refreshed.data("refreshToken"), EMAIL);

    app.gql(REFRESH, json!({ "token": owner.refresh_token }))
        .await
        .expect_error("UNAUTHENTICATED");

    assert_refused(&me(&app, &refreshed.access_token).await, "after reuse");
}

#[tokio::test]
async fn a_websocket_init_with_a_logged_out_token_is_refused() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut before = app.ws("/graphql/ws").await;
    before.init(&owner.access_token).await;

    logout(&app, &owner, Some(&owner.refresh_token)).await;

    let mut ws = app.ws("/graphql/ws").await;
    ws.send(json!({ "type": "connection_init", "payload": { "token": owner.access_token } }))
        .await;
    assert_eq!(ws.closed().await.0, 4403);
}

#[tokio::test]
async fn logout_leaves_api_keys_working() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let key = app.api_key(&owner, &["READ"]).await;

    logout(&app, &owner, None).await;

    assert_eq!(me(&app, &key).await.data("me")["role"], "VIEWER");
}
