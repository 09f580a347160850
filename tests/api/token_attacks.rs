//! Forged, tampered, expired and mis-addressed tokens are all refused, over
//! HTTP (401) and over `connection_init` (4403).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp};

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(app: &TestApp, session: &Session) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": app.config.jwt_issuer, "aud": app.config.jwt_audience,
        "sub": session.user_id, "tid": session.tenant_id, "role": "owner",
        "sid": session.session_id(),
        "iat": now, "nbf": now, "exp": now + 600, "jti": uuid::Uuid::now_v7(),
    })
}

/// Every attack token, named.
async fn attacks(app: &TestApp) -> Vec<(&'static str, String)> {
    let owner = app.sign_up("acme").await;
    let removed = app.add_member(&owner, "gone@acme.example", "ADMIN").await;
    let removed_id = app.member_id(&owner, &removed.email).await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { removeMember(memberId: $id) { id } }",
        json!({ "id": removed_id }),
    )
    .await
    .data("removeMember");
    let secret = app.config.jwt_secret.clone();
    let base = claims(app, &owner);
    let with = |key: &str, value: Value| {
        let mut c = base.clone();
        c[key] = value;
        sign(&c, &secret)
    };
    let without = |key: &str| {
        let mut c = base.clone();
        c.as_object_mut().unwrap().remove(key);
        sign(&c, &secret)
    };
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(base.to_string())
    );
    let tampered = {
        let valid = owner.access_token.clone();
        let parts: Vec<&str> = valid.split('.').collect();
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["tid"] = json!(uuid::Uuid::now_v7());
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            parts[2]
        )
    };
    let now = chrono::Utc::now().timestamp();
    vec![
        ("alg none", alg_none),
        (
            "wrong key",
            sign(&base, "some-other-secret-entirely-of-good-length"),
        ),
        ("tampered payload", tampered),
        ("expired beyond leeway", with("exp", json!(now - 120))),
        ("not yet valid", with("nbf", json!(now + 600))),
        ("wrong issuer", with("iss", json!("someone-else"))),
        ("wrong audience", with("aud", json!("another-api"))),
        ("missing tenant", without("tid")),
        ("missing subject", without("sub")),
        ("missing expiry", without("exp")),
        ("missing session", without("sid")),
        ("another session", with("sid", json!(uuid::Uuid::now_v7()))),
        ("removed member", removed.access_token),
    ]
}

#[tokio::test]
async fn attack_tokens_are_refused_over_http() {
    let app = TestApp::spawn().await;
    for (name, token) in attacks(&app).await {
        let response = app.gql_as(&token, "{ me { role } }", json!({})).await;
        assert_eq!(response.status, 401, "{name}");
        assert_eq!(response.code(), Some("UNAUTHENTICATED"), "{name}");
    }
}

#[tokio::test]
async fn attack_tokens_are_refused_over_websocket() {
    let app = TestApp::spawn().await;
    for (name, token) in attacks(&app).await {
        let mut ws = app.ws("/graphql/ws").await;
        ws.send(json!({ "type": "connection_init", "payload": { "token": token } }))
            .await;
        assert_eq!(ws.closed().await.0, 4403, "{name}");
    }
}

#[tokio::test]
async fn a_token_within_the_leeway_still_works() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut c = claims(&app, &owner);
    c["exp"] = json!(chrono::Utc::now().timestamp() - 5);
    let token = sign(&c, &app.config.jwt_secret);
    let response = app.gql_as(&token, "{ me { role } }", json!({})).await;
    assert_eq!(response.data("me")["role"], "OWNER");
}
