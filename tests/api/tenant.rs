//! The tenant profile and its deactivation.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_tenant_shows_its_plan_and_limits() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let tenant = app
        .gql_as(
            &owner.access_token,
            "{ tenant { name slug plan { tier monthlyCredits price { amount currencyCode } } limits { maxLeads maxEmailsPerDay maxUsers } creditBalance isActive } }",
            json!({}),
        )
        .await;

    let tenant = tenant.data("tenant");
    assert_eq!(tenant["slug"], "acme");
    assert_eq!(tenant["plan"]["tier"], "BASIC");
    assert_eq!(tenant["limits"]["maxUsers"], 3);
    assert_eq!(tenant["creditBalance"], tenant["plan"]["monthlyCredits"]);
    // 64-bit quantities travel as strings (BigInt), money as Money.
    assert!(tenant["creditBalance"].is_string(), "{tenant}");
    assert!(tenant["plan"]["price"]["amount"].is_string(), "{tenant}");
    assert!(
        tenant["plan"]["price"]["currencyCode"].is_string(),
        "{tenant}"
    );
}

#[tokio::test]
async fn admins_update_the_tenant_and_absent_differs_from_null() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let update = "mutation($input: UpdateTenantInput!) { updateTenant(input: $input) { name industry businessType branding } }";

    let first = app
        .gql_as(
            &owner.access_token,
            update,
            json!({ "input": { "name": "Acme GmbH", "industry": "Retail", "businessType": "B2B", "branding": { "primaryColor": "#ff6600" } } }),
        )
        .await;
    // industry absent: kept; businessType null: cleared.
    let second = app
        .gql_as(
            &owner.access_token,
            update,
            json!({ "input": { "businessType": null } }),
        )
        .await;

    assert_eq!(
        first.data("updateTenant")["branding"]["primaryColor"],
        "#ff6600"
    );
    let second = second.data("updateTenant");
    assert_eq!(second["name"], "Acme GmbH");
    assert_eq!(second["industry"], "Retail");
    assert!(second["businessType"].is_null());
}

#[tokio::test]
async fn tenant_updates_are_validated_and_admin_only() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    let update = "mutation($input: UpdateTenantInput!) { updateTenant(input: $input) { name } }";

    let forbidden = app
        .gql_as(
            &member.access_token,
            update,
            json!({ "input": { "name": "Hijacked" } }),
        )
        .await;
    let blank = app
        .gql_as(
            &owner.access_token,
            update,
            json!({ "input": { "name": "  " } }),
        )
        .await;
    let not_object = app
        .gql_as(
            &owner.access_token,
            update,
            json!({ "input": { "branding": [1, 2] } }),
        )
        .await;

    forbidden.expect_error("FORBIDDEN");
    assert_eq!(
        blank.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "input.name"
    );
    assert_eq!(
        not_object.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "input.branding"
    );
    assert_eq!(app.count("tenants", "name = 'Tenant acme'").await, 1);
}

#[tokio::test]
async fn a_deactivated_tenant_locks_out_tokens_and_keys_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let key = app.api_key(&owner, &["READ"]).await;

    app.sql("UPDATE tenants SET is_active = false").await;

    for token in [&owner.access_token, &key] {
        let response = app.gql_as(token, "{ tenant { slug } }", json!({})).await;
        assert_eq!(response.status, 401);
        response.expect_error("UNAUTHENTICATED");
    }
    let login = app
        .gql(
            crate::helpers::LOGIN,
            json!({ "input": { "email": owner.email, "password": crate::helpers::PASSWORD } }),
        )
        .await;
    login.expect_error("FORBIDDEN");
}
