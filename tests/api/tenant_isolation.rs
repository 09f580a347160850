//! Tenant isolation: for every query and mutation, another tenant's ids give
//! NOT_FOUND and change nothing; lists show only the caller's rows; the
//! database itself refuses cross-tenant references.

use serde_json::json;

use crate::helpers::{PASSWORD, Session, TestApp};

struct Two {
    app: TestApp,
    a: Session,
    b: Session,
    b_member_id: String,
    b_owner_member_id: String,
    b_key_id: String,
    b_invite_id: String,
}

async fn two_tenants() -> Two {
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let b = app.sign_up("beta").await;
    app.sql("UPDATE tenants SET max_users = 10").await;
    app.add_member(&b, "member@beta.example", "MEMBER").await;
    let b_member_id = app.member_id(&b, "member@beta.example").await;
    let b_owner_member_id = app.member_id(&b, &b.email).await;
    let key = app
        .gql_as(
            &b.access_token,
            "mutation { createApiKey(name: \"b\", scopes: [READ]) { apiKey { id } } }",
            json!({}),
        )
        .await;
    let b_key_id = key.data("createApiKey")["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = app
        .gql_as(
            &b.access_token,
            "mutation { inviteUser(email: \"later@beta.example\", role: VIEWER) { invite { id } } }",
            json!({}),
        )
        .await;
    let b_invite_id = invite.data("inviteUser")["invite"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Two {
        app,
        a,
        b,
        b_member_id,
        b_owner_member_id,
        b_key_id,
        b_invite_id,
    }
}

#[tokio::test]
async fn mutations_on_another_tenants_ids_are_not_found_and_change_nothing() {
    let t = two_tenants().await;
    let before = (
        t.app.count("memberships", "1 = 1").await,
        t.app.count("api_keys", "revoked_at IS NULL").await,
        t.app.count("invites", "status = 'pending'").await,
    );
    let cases = [
        (
            "updateMemberRole",
            "mutation($id: ID!) { updateMemberRole(memberId: $id, role: VIEWER) { id } }",
            &t.b_member_id,
        ),
        (
            "updateMemberRole owner",
            "mutation($id: ID!) { updateMemberRole(memberId: $id, role: VIEWER) { id } }",
            &t.b_owner_member_id,
        ),
        (
            "removeMember",
            "mutation($id: ID!) { removeMember(memberId: $id) { id } }",
            &t.b_member_id,
        ),
        (
            "revokeApiKey",
            "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
            &t.b_key_id,
        ),
        (
            "revokeInvite",
            "mutation($id: ID!) { revokeInvite(id: $id) { id } }",
            &t.b_invite_id,
        ),
        (
            "switchTenant",
            "mutation($id: ID!) { switchTenant(tenantId: $id) { role } }",
            &t.b.tenant_id,
        ),
    ];

    for (name, mutation, id) in cases {
        let response = t
            .app
            .gql_as(&t.a.access_token, mutation, json!({ "id": id }))
            .await;
        assert_eq!(
            response.code(),
            Some("NOT_FOUND"),
            "{name}: {:?}",
            response.body
        );
    }

    let after = (
        t.app.count("memberships", "1 = 1").await,
        t.app.count("api_keys", "revoked_at IS NULL").await,
        t.app.count("invites", "status = 'pending'").await,
    );
    assert_eq!(before, after);
    assert_eq!(t.app.count("memberships", "role = 'member'").await, 1);
}

#[tokio::test]
async fn lists_show_only_the_callers_tenant() {
    let t = two_tenants().await;
    let query = "{ tenant { slug } tenantMembers { totalCount edges { node { user { email } } } } apiKeys { totalCount } invites { totalCount } auditLog { totalCount edges { node { action } } } me { memberships { tenant { slug } } } }";

    let response = t.app.gql_as(&t.a.access_token, query, json!({})).await;

    assert_eq!(response.data("tenant")["slug"], "alpha");
    assert_eq!(response.data("tenantMembers")["totalCount"], 1);
    assert_eq!(
        response.data("tenantMembers")["edges"][0]["node"]["user"]["email"],
        t.a.email.as_str()
    );
    assert_eq!(response.data("apiKeys")["totalCount"], 0);
    assert_eq!(response.data("invites")["totalCount"], 0);
    assert_eq!(
        response.data("auditLog")["totalCount"],
        1,
        "only alpha's signUp"
    );
    assert_eq!(
        response.data("me")["memberships"],
        json!([{ "tenant": { "slug": "alpha" } }])
    );
}

#[tokio::test]
async fn another_tenants_refresh_token_cannot_log_out_or_be_used_as_ours() {
    let t = two_tenants().await;
    let logout = t
        .app
        .gql_as(
            &t.a.access_token,
            "mutation($t: String) { logout(refreshToken: $t) }",
            json!({ "t": t.b.refresh_token }),
        )
        .await;
    logout.expect_error("BAD_USER_INPUT");
    assert_eq!(
        t.app
            .count("refresh_tokens", "revoked_at IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn an_invite_for_one_tenant_never_joins_another() {
    let t = two_tenants().await;
    let invite = t
        .app
        .gql_as(
            &t.a.access_token,
            "mutation { inviteUser(email: \"x@alpha.example\", role: VIEWER) { token } }",
            json!({}),
        )
        .await;
    let token = invite.data("inviteUser")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Swap the tenant part of the token for beta's id: the hash no longer matches anything.
    let beta_hex = t.b.tenant_id.replace('-', "");
    let mut parts: Vec<&str> = token.splitn(3, '_').collect();
    parts[1] = &beta_hex;
    let forged = parts.join("_");

    let accepted = t
        .app
        .gql(
            "mutation($t: String!) { acceptInvite(token: $t, name: \"X\", password: \"correct-horse-battery\") { role } }",
            json!({ "t": forged }),
        )
        .await;

    accepted.expect_error("BAD_USER_INPUT");
    assert_eq!(t.app.count("users", "email = 'x@alpha.example'").await, 0);
}

#[tokio::test]
async fn a_user_in_two_tenants_sees_each_tenant_separately() {
    let t = two_tenants().await;
    t.app.add_member(&t.b, &t.a.email, "VIEWER").await;
    let login_b = t
        .app
        .gql(
            crate::helpers::LOGIN,
            json!({ "input": { "email": t.a.email, "password": PASSWORD, "tenantSlug": "beta" } }),
        )
        .await;
    let in_b = Session::from_payload(login_b.data("login"), &t.a.email);

    let members_a = t
        .app
        .gql_as(
            &t.a.access_token,
            "{ tenantMembers { totalCount } }",
            json!({}),
        )
        .await;
    let members_b = t
        .app
        .gql_as(
            &in_b.access_token,
            "{ tenantMembers { totalCount } }",
            json!({}),
        )
        .await;
    let write_in_b = t
        .app
        .gql_as(
            &in_b.access_token,
            "mutation { createApiKey(name: \"x\", scopes: [READ]) { key } }",
            json!({}),
        )
        .await;

    assert_eq!(members_a.data("tenantMembers")["totalCount"], 1);
    assert_eq!(members_b.data("tenantMembers")["totalCount"], 3);
    write_in_b.expect_error("FORBIDDEN");
}

#[tokio::test]
async fn the_database_refuses_a_cross_tenant_reference() {
    let t = two_tenants().await;
    let backend = t.app.db.get_database_backend();
    // A refresh token in tenant alpha for a user who is only a member of beta:
    // the composite key (tenant_id, user_id) → memberships refuses it.
    let b_member = t
        .app
        .sql("SELECT user_id FROM memberships WHERE role = 'member'")
        .await;
    let b_user: uuid::Uuid = b_member[0].try_get("", "user_id").unwrap();
    let a_tenant = uuid::Uuid::parse_str(&t.a.tenant_id).unwrap();
    let insert = sea_orm::Statement::from_sql_and_values(
        backend,
        match backend {
            sea_orm::DbBackend::Postgres => {
                "INSERT INTO refresh_tokens (tenant_id, id, user_id, family_id, token_hash, expires_at) \
                 VALUES ($1, $2, $3, $2, 'x', '2030-01-01T00:00:00+00:00')"
            }
            _ => {
                "INSERT INTO refresh_tokens (tenant_id, id, user_id, family_id, token_hash, expires_at) \
                 VALUES (?, ?, ?, ?, 'x', '2030-01-01T00:00:00+00:00')"
            }
        },
        match backend {
            sea_orm::DbBackend::Postgres => {
                vec![a_tenant.into(), uuid::Uuid::now_v7().into(), b_user.into()]
            }
            _ => {
                let id = uuid::Uuid::now_v7();
                vec![a_tenant.into(), id.into(), b_user.into(), id.into()]
            }
        },
    );
    use sea_orm::ConnectionTrait;
    let result = t.app.db.execute_raw(insert).await;
    assert!(
        result.is_err(),
        "the foreign key must refuse a cross-tenant row"
    );
}
