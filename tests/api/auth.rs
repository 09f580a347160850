//! Sign-up, login (with its rate limit), refresh rotation and reuse
//! detection, logout, tenant switching and `me`.

use serde_json::json;

use crate::helpers::{LOGIN, PASSWORD, PAYLOAD_FIELDS, Session, TestApp};

const ME: &str =
    "{ me { role user { email } tenant { slug } memberships { role isPrimary tenant { slug } } } }";

#[tokio::test]
async fn sign_up_creates_the_user_the_tenant_and_an_owner_membership() {
    let app = TestApp::spawn().await;

    let owner = app.sign_up("acme").await;

    assert_eq!(owner.role, "OWNER");
    let me = app.gql_as(&owner.access_token, ME, json!({})).await;
    let me = me.data("me");
    assert_eq!(me["user"]["email"], "owner@acme.example");
    assert_eq!(me["tenant"]["slug"], "acme");
    assert_eq!(
        me["memberships"],
        json!([{ "role": "OWNER", "isPrimary": true, "tenant": { "slug": "acme" } }])
    );
    assert_eq!(app.count("memberships", "role = 'owner'").await, 1);
}

#[tokio::test]
async fn sign_up_names_the_field_that_is_wrong() {
    let app = TestApp::spawn().await;
    let valid = json!({ "email": "a@b.example", "password": PASSWORD, "name": "A", "tenantName": "T", "tenantSlug": "tee" });
    let cases = [
        ("email", json!("not-an-email"), "input.email"),
        ("password", json!("short"), "input.password"),
        ("name", json!("   "), "input.name"),
        ("tenantName", json!(""), "input.tenantName"),
        ("tenantSlug", json!("-bad-"), "input.tenantSlug"),
        ("tenantSlug", json!("www"), "input.tenantSlug"),
    ];

    for (key, value, field) in cases {
        let mut input = valid.clone();
        input[key] = value;
        let response = app
            .gql(crate::helpers::SIGN_UP, json!({ "input": input }))
            .await;
        let error = response.expect_error("BAD_USER_INPUT");
        assert_eq!(error["extensions"]["field"], field, "for {key}");
    }
    assert_eq!(app.count("users", "1 = 1").await, 0, "nothing was created");
}

#[tokio::test]
async fn sign_up_refuses_a_taken_email_or_slug() {
    let app = TestApp::spawn().await;
    app.sign_up("acme").await;

    let same_email = app
        .gql(
            crate::helpers::SIGN_UP,
            json!({ "input": { "email": "OWNER@acme.example", "password": PASSWORD, "name": "B", "tenantName": "B", "tenantSlug": "other" } }),
        )
        .await;
    let same_slug = app
        .gql(
            crate::helpers::SIGN_UP,
            json!({ "input": { "email": "new@b.example", "password": PASSWORD, "name": "B", "tenantName": "B", "tenantSlug": "acme" } }),
        )
        .await;

    assert_eq!(
        same_email.expect_error("CONFLICT")["extensions"]["field"],
        "input.email"
    );
    assert_eq!(
        same_slug.expect_error("CONFLICT")["extensions"]["field"],
        "input.tenantSlug"
    );
    assert_eq!(app.count("tenants", "1 = 1").await, 1);
}

#[tokio::test]
async fn login_returns_a_working_session_and_records_the_attempt() {
    let app = TestApp::spawn().await;
    app.sign_up("acme").await;

    let response = app
        .gql(
            LOGIN,
            json!({ "input": { "email": "Owner@Acme.example", "password": PASSWORD } }),
        )
        .await;

    let session = Session::from_payload(response.data("login"), "owner@acme.example");
    let me = app.gql_as(&session.access_token, ME, json!({})).await;
    assert_eq!(me.data("me")["tenant"]["slug"], "acme");
    assert_eq!(app.count("user_logins", "success = true").await, 1);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.sign_up("acme").await;

    let wrong_password = app
        .gql(
            LOGIN,
            json!({ "input": { "email": "owner@acme.example", "password": "not-the-password" } }),
        )
        .await;
    let unknown_email = app
        .gql(
            LOGIN,
            json!({ "input": { "email": "nobody@acme.example", "password": "not-the-password" } }),
        )
        .await;

    let a = wrong_password.expect_error("UNAUTHENTICATED");
    let b = unknown_email.expect_error("UNAUTHENTICATED");
    assert_eq!(a["message"], b["message"]);
    assert_eq!(app.count("user_logins", "success = false").await, 2);
}

#[tokio::test]
async fn five_failures_lock_the_email_for_the_rest_of_the_window() {
    let app = TestApp::spawn().await;
    app.sign_up("acme").await;
    app.sign_up("other").await;
    let attempt = |password: &'static str, email: &'static str| {
        let app = &app;
        async move {
            app.gql(
                LOGIN,
                json!({ "input": { "email": email, "password": password } }),
            )
            .await
        }
    };

    for _ in 0..5 {
        attempt("wrong-password!", "owner@acme.example")
            .await
            .expect_error("UNAUTHENTICATED");
    }
    let locked = attempt(PASSWORD, "owner@acme.example").await;
    let unaffected = attempt(PASSWORD, "owner@other.example").await;

    let error = locked.expect_error("RATE_LIMITED");
    assert!(error["extensions"]["retryAfterSeconds"].as_u64().unwrap() > 0);
    assert!(
        unaffected.is_ok(),
        "another email is not limited: {:?}",
        unaffected.body
    );
}

#[tokio::test]
async fn unknown_emails_are_rate_limited_too() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        app.gql(
            LOGIN,
            json!({ "input": { "email": "ghost@x.example", "password": "whatever-pass" } }),
        )
        .await
        .expect_error("UNAUTHENTICATED");
    }
    let sixth = app
        .gql(
            LOGIN,
            json!({ "input": { "email": "ghost@x.example", "password": "whatever-pass" } }),
        )
        .await;
    sixth.expect_error("RATE_LIMITED");
}

#[tokio::test]
async fn login_picks_the_named_tenant_or_the_primary_one() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("other").await;
    app.add_member(&other, &owner.email, "VIEWER").await;

    let primary = app
        .gql(
            LOGIN,
            json!({ "input": { "email": owner.email, "password": PASSWORD } }),
        )
        .await;
    let named = app
        .gql(LOGIN, json!({ "input": { "email": owner.email, "password": PASSWORD, "tenantSlug": "other" } }))
        .await;
    let not_member = app
        .gql(LOGIN, json!({ "input": { "email": owner.email, "password": PASSWORD, "tenantSlug": "nowhere" } }))
        .await;

    assert_eq!(primary.data("login")["tenant"]["slug"], "acme");
    assert_eq!(named.data("login")["tenant"]["slug"], "other");
    assert_eq!(named.data("login")["role"], "VIEWER");
    assert_eq!(
        not_member.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "input.tenantSlug"
    );
}

const REFRESH: &str = "mutation($token: String!) { refreshToken(token: $token) { accessToken refreshToken expiresAt role user { id email name } tenant { id name slug } } }";

#[tokio::test]
async fn refresh_rotates_and_the_old_token_stops_working() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let rotated = app
        .gql(REFRESH, json!({ "token": owner.refresh_token }))
        .await;
    let rotated = Session::from_payload(rotated.data("refreshToken"), &owner.email);
    let me = app.gql_as(&rotated.access_token, ME, json!({})).await;

    assert_ne!(rotated.refresh_token, owner.refresh_token);
    assert_eq!(me.data("me")["role"], "OWNER");
    let again = app
        .gql(REFRESH, json!({ "token": owner.refresh_token }))
        .await;
    again.expect_error("UNAUTHENTICATED");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let second = app
        .gql(REFRESH, json!({ "token": owner.refresh_token }))
        .await;
    let second = Session::from_payload(second.data("refreshToken"), &owner.email);

    // An attacker replays the first token…
    app.gql(REFRESH, json!({ "token": owner.refresh_token }))
        .await
        .expect_error("UNAUTHENTICATED");
    // …so the legitimate, newer token is revoked with it.
    let legit = app
        .gql(REFRESH, json!({ "token": second.refresh_token }))
        .await;

    legit.expect_error("UNAUTHENTICATED");
    assert_eq!(app.count("refresh_tokens", "revoked_at IS NULL").await, 0);
}

#[tokio::test]
async fn garbage_refresh_tokens_are_refused() {
    let app = TestApp::spawn().await;
    for token in ["", "phr_nope", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
        app.gql(REFRESH, json!({ "token": token }))
            .await
            .expect_error("UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn logout_revokes_the_session_family() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let logout = app
        .gql_as(
            &owner.access_token,
            "mutation($t: String) { logout(refreshToken: $t) }",
            json!({ "t": owner.refresh_token }),
        )
        .await;

    assert_eq!(logout.data("logout"), 1);
    app.gql(REFRESH, json!({ "token": owner.refresh_token }))
        .await
        .expect_error("UNAUTHENTICATED");
}

#[tokio::test]
async fn logout_without_a_token_ends_every_session_in_the_tenant() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let second = app
        .gql(
            LOGIN,
            json!({ "input": { "email": owner.email, "password": PASSWORD } }),
        )
        .await;
    let second = Session::from_payload(second.data("login"), &owner.email);

    let logout = app
        .gql_as(&owner.access_token, "mutation { logout }", json!({}))
        .await;

    assert_eq!(logout.data("logout"), 2);
    app.gql(REFRESH, json!({ "token": second.refresh_token }))
        .await
        .expect_error("UNAUTHENTICATED");
}

#[tokio::test]
async fn switch_tenant_returns_a_session_in_another_membership() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("other").await;
    app.add_member(&other, &owner.email, "MEMBER").await;

    let switched = app
        .gql_as(
            &owner.access_token,
            &format!("mutation($id: ID!) {{ switchTenant(tenantId: $id) {PAYLOAD_FIELDS} }}"),
            json!({ "id": other.tenant_id }),
        )
        .await;
    let switched = Session::from_payload(switched.data("switchTenant"), &owner.email);
    let me = app.gql_as(&switched.access_token, ME, json!({})).await;

    assert_eq!(switched.role, "MEMBER");
    assert_eq!(me.data("me")["tenant"]["slug"], "other");
    assert_eq!(me.data("me")["memberships"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_api_key_has_no_user_in_me() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let key = app.api_key(&owner, &["READ"]).await;

    let me = app.gql_as(&key, ME, json!({})).await;

    assert!(me.data("me")["user"].is_null());
    assert_eq!(me.data("me")["role"], "VIEWER");
    assert_eq!(me.data("me")["memberships"], json!([]));
}

#[tokio::test]
async fn anonymous_callers_cannot_read_me() {
    let app = TestApp::spawn().await;
    app.gql(ME, json!({})).await.expect_error("UNAUTHENTICATED");
}
