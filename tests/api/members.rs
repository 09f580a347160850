//! Invites, roles and the last-owner rule.

use serde_json::json;

use crate::helpers::{PASSWORD, PAYLOAD_FIELDS, TestApp};

const UPDATE_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { updateMemberRole(memberId: $id, role: $role) { id role } }";
const REMOVE: &str = "mutation($id: ID!) { removeMember(memberId: $id) { id } }";
const INVITE: &str = "mutation($email: String!, $role: Role!) { inviteUser(email: $email, role: $role) { token invite { id email role status } } }";

#[tokio::test]
async fn an_invited_person_joins_with_the_invited_role() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let invite = app
        .gql_as(
            &owner.access_token,
            INVITE,
            json!({ "email": "Ann@Acme.example", "role": "ADMIN" }),
        )
        .await;
    let invite = invite.data("inviteUser");
    let accepted = app
        .gql(
            &format!(
                "mutation($t: String!) {{ acceptInvite(token: $t, name: \"Ann\", password: \"{PASSWORD}\") {PAYLOAD_FIELDS} }}"
            ),
            json!({ "t": invite["token"] }),
        )
        .await;

    assert_eq!(invite["invite"]["email"], "ann@acme.example");
    assert_eq!(invite["invite"]["status"], "PENDING");
    let accepted = accepted.data("acceptInvite");
    assert_eq!(accepted["role"], "ADMIN");
    assert_eq!(accepted["tenant"]["id"], owner.tenant_id.as_str());
    let members = app
        .gql_as(
            &owner.access_token,
            "{ tenantMembers { totalCount edges { node { role user { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(members.data("tenantMembers")["totalCount"], 2);
}

#[tokio::test]
async fn an_invite_works_once() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let invite = app
        .gql_as(
            &owner.access_token,
            INVITE,
            json!({ "email": "ann@acme.example", "role": "MEMBER" }),
        )
        .await;
    let token = invite.data("inviteUser")["token"].clone();
    let accept = "mutation($t: String!) { acceptInvite(token: $t, name: \"Ann\", password: \"correct-horse-battery\") { role } }";

    app.gql(accept, json!({ "t": token }))
        .await
        .data("acceptInvite");
    let second = app.gql(accept, json!({ "t": token })).await;

    assert_eq!(
        second.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "token"
    );
}

#[tokio::test]
async fn revoked_and_expired_invites_cannot_be_accepted() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let revoked = app
        .gql_as(
            &owner.access_token,
            INVITE,
            json!({ "email": "r@acme.example", "role": "MEMBER" }),
        )
        .await;
    let expired = app
        .gql_as(
            &owner.access_token,
            INVITE,
            json!({ "email": "e@acme.example", "role": "MEMBER" }),
        )
        .await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { revokeInvite(id: $id) { status } }",
        json!({ "id": revoked.data("inviteUser")["invite"]["id"] }),
    )
    .await
    .data("revokeInvite");
    app.sql("UPDATE invites SET expires_at = '2020-01-01T00:00:00+00:00' WHERE email = 'e@acme.example'").await;
    let accept = "mutation($t: String!) { acceptInvite(token: $t, name: \"X\", password: \"correct-horse-battery\") { role } }";

    for token in [
        &revoked.data("inviteUser")["token"],
        &expired.data("inviteUser")["token"],
    ] {
        app.gql(accept, json!({ "t": token }))
            .await
            .expect_error("BAD_USER_INPUT");
    }
    assert_eq!(app.count("memberships", "1 = 1").await, 1);
}

#[tokio::test]
async fn an_existing_account_accepts_with_its_own_password() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("other").await;
    let invite = app
        .gql_as(
            &owner.access_token,
            INVITE,
            json!({ "email": other.email, "role": "VIEWER" }),
        )
        .await;
    let token = invite.data("inviteUser")["token"].clone();
    let accept = "mutation($t: String!, $p: String!) { acceptInvite(token: $t, name: \"ignored\", password: $p) { role tenant { slug } } }";

    let wrong = app
        .gql(accept, json!({ "t": token, "p": "not-my-password" }))
        .await;
    let right = app.gql(accept, json!({ "t": token, "p": PASSWORD })).await;

    wrong.expect_error("UNAUTHENTICATED");
    assert_eq!(right.data("acceptInvite")["tenant"]["slug"], "acme");
    assert_eq!(app.count("users", "1 = 1").await, 2, "no duplicate user");
}

#[tokio::test]
async fn viewers_and_members_cannot_manage_members() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    let owner_member_id = app.member_id(&owner, &owner.email).await;

    for session in [&viewer, &member] {
        app.gql_as(
            &session.access_token,
            INVITE,
            json!({ "email": "x@acme.example", "role": "VIEWER" }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(
            &session.access_token,
            UPDATE_ROLE,
            json!({ "id": owner_member_id, "role": "VIEWER" }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(
            &session.access_token,
            REMOVE,
            json!({ "id": owner_member_id }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(
            &session.access_token,
            "{ invites { totalCount } }",
            json!({}),
        )
        .await
        .expect_error("FORBIDDEN");
    }
    assert_eq!(app.count("memberships", "role = 'owner'").await, 1);
    assert_eq!(app.count("invites", "status = 'pending'").await, 0);
}

#[tokio::test]
async fn admins_cannot_create_change_or_remove_owners() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let admin = app.add_member(&owner, "a@acme.example", "ADMIN").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let owner_id = app.member_id(&owner, &owner.email).await;
    let viewer_id = app.member_id(&owner, &viewer.email).await;

    app.gql_as(
        &admin.access_token,
        INVITE,
        json!({ "email": "o@acme.example", "role": "OWNER" }),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql_as(
        &admin.access_token,
        UPDATE_ROLE,
        json!({ "id": viewer_id, "role": "OWNER" }),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql_as(
        &admin.access_token,
        UPDATE_ROLE,
        json!({ "id": owner_id, "role": "ADMIN" }),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql_as(&admin.access_token, REMOVE, json!({ "id": owner_id }))
        .await
        .expect_error("FORBIDDEN");

    let promoted = app
        .gql_as(
            &admin.access_token,
            UPDATE_ROLE,
            json!({ "id": viewer_id, "role": "MEMBER" }),
        )
        .await;
    assert_eq!(promoted.data("updateMemberRole")["role"], "MEMBER");
}

#[tokio::test]
async fn the_last_owner_cannot_be_demoted_or_removed() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let owner_id = app.member_id(&owner, &owner.email).await;

    app.gql_as(
        &owner.access_token,
        UPDATE_ROLE,
        json!({ "id": owner_id, "role": "ADMIN" }),
    )
    .await
    .expect_error("CONFLICT");
    app.gql_as(&owner.access_token, REMOVE, json!({ "id": owner_id }))
        .await
        .expect_error("CONFLICT");

    // With a second owner, the first may step down.
    let second = app.add_member(&owner, "o2@acme.example", "OWNER").await;
    let demoted = app
        .gql_as(
            &second.access_token,
            UPDATE_ROLE,
            json!({ "id": owner_id, "role": "ADMIN" }),
        )
        .await;
    assert_eq!(demoted.data("updateMemberRole")["role"], "ADMIN");
    let second_id = app.member_id(&owner, &second.email).await;
    app.gql_as(&second.access_token, REMOVE, json!({ "id": second_id }))
        .await
        .expect_error("CONFLICT");
    assert_eq!(app.count("memberships", "role = 'owner'").await, 1);
}

#[tokio::test]
async fn a_removed_member_is_locked_out_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    let member_id = app.member_id(&owner, &member.email).await;

    app.gql_as(&owner.access_token, REMOVE, json!({ "id": member_id }))
        .await
        .data("removeMember");
    let after = app
        .gql_as(&member.access_token, "{ me { role } }", json!({}))
        .await;
    let refresh = app
        .gql(
            "mutation($t: String!) { refreshToken(token: $t) { accessToken } }",
            json!({ "t": member.refresh_token }),
        )
        .await;

    assert_eq!(after.status, 401);
    after.expect_error("UNAUTHENTICATED");
    refresh.expect_error("UNAUTHENTICATED");
}

#[tokio::test]
async fn a_deactivated_user_or_a_deleted_tenant_is_locked_out_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    let me = "{ me { role } }";
    let before = app.gql_as(&member.access_token, me, json!({})).await;
    assert_eq!(before.data("me")["role"], "MEMBER");

    app.sql("UPDATE users SET is_active = false WHERE email = 'm@acme.example'")
        .await;
    let deactivated = app.gql_as(&member.access_token, me, json!({})).await;
    assert_eq!(deactivated.status, 401);
    deactivated.expect_error("UNAUTHENTICATED");
    // Only that user: the owner still gets in.
    let owner_now = app.gql_as(&owner.access_token, me, json!({})).await;
    assert_eq!(owner_now.data("me")["role"], "OWNER");

    app.sql("UPDATE tenants SET deleted_at = created_at").await;
    let deleted = app.gql_as(&owner.access_token, me, json!({})).await;
    assert_eq!(deleted.status, 401);
    deleted.expect_error("UNAUTHENTICATED");
}

#[tokio::test]
async fn a_role_change_applies_to_the_next_request() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "ADMIN").await;
    let member_id = app.member_id(&owner, &member.email).await;

    app.gql_as(
        &owner.access_token,
        UPDATE_ROLE,
        json!({ "id": member_id, "role": "VIEWER" }),
    )
    .await
    .data("updateMemberRole");
    let attempt = app
        .gql_as(
            &member.access_token,
            INVITE,
            json!({ "email": "x@acme.example", "role": "VIEWER" }),
        )
        .await;

    attempt.expect_error("FORBIDDEN");
}

#[tokio::test]
async fn the_plan_user_limit_counts_members_and_pending_invites() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.sql("UPDATE tenants SET max_users = 2").await;

    app.gql_as(
        &owner.access_token,
        INVITE,
        json!({ "email": "one@acme.example", "role": "MEMBER" }),
    )
    .await
    .data("inviteUser");
    let over = app
        .gql_as(
            &owner.access_token,
            INVITE,
            json!({ "email": "two@acme.example", "role": "MEMBER" }),
        )
        .await;
    // Re-inviting the same person replaces the pending invite, so it fits.
    let again = app
        .gql_as(
            &owner.access_token,
            INVITE,
            json!({ "email": "one@acme.example", "role": "ADMIN" }),
        )
        .await;

    over.expect_error("LIMIT_EXCEEDED");
    assert_eq!(again.data("inviteUser")["invite"]["role"], "ADMIN");
    assert_eq!(app.count("invites", "status = 'pending'").await, 1);
}

#[tokio::test]
async fn inviting_a_current_member_is_a_conflict() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.gql_as(
        &owner.access_token,
        INVITE,
        json!({ "email": owner.email, "role": "MEMBER" }),
    )
    .await
    .expect_error("CONFLICT");
}

#[tokio::test]
async fn members_page_with_keyset_cursors() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.sql("UPDATE tenants SET max_users = 10").await;
    for i in 0..4 {
        app.add_member(&owner, &format!("p{i}@acme.example"), "VIEWER")
            .await;
    }
    let page = "query($after: String) { tenantMembers(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { user { email } } } } }";

    let mut emails = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let response = app
            .gql_as(&owner.access_token, page, json!({ "after": after }))
            .await;
        let connection = response.data("tenantMembers").clone();
        assert_eq!(connection["totalCount"], 5);
        for edge in connection["edges"].as_array().unwrap() {
            emails.push(edge["node"]["user"]["email"].as_str().unwrap().to_owned());
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }

    assert_eq!(emails.len(), 5);
    assert_eq!(emails[0], owner.email, "oldest member first");
    let mut unique = emails.clone();
    unique.dedup();
    assert_eq!(unique.len(), 5, "no duplicates across pages");
}
