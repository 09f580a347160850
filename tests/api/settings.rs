//! Tenant settings: any member reads them, only admins write them, keys and
//! values are checked, and tenants never see each other's.

use serde_json::{Value, json};

use crate::helpers::{Gql, TestApp};

const SET: &str = "mutation($key: String!, $value: JSON!) { setSetting(key: $key, value: $value) { key value updatedAt } }";
const DELETE: &str = "mutation($key: String!) { deleteSetting(key: $key) }";
const ALL: &str = "{ settings { nodes { key value updatedAt } } }";
const ONE: &str = "query($key: String!) { setting(key: $key) { key value } }";

fn field_of(response: &Gql) -> String {
    response.expect_error("BAD_USER_INPUT")["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn settings_are_upserted_listed_by_key_and_deleted() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let token = owner.access_token.as_str();

    let created = app
        .gql_as(
            token,
            SET,
            json!({ "key": "mail.footer", "value": { "text": "Sent by Acme", "show": true } }),
        )
        .await;
    app.gql_as(token, SET, json!({ "key": "ui.page-size", "value": 25 }))
        .await;
    let replaced = app
        .gql_as(token, SET, json!({ "key": "ui.page-size", "value": 50 }))
        .await;
    let all = app.gql_as(token, ALL, json!({})).await;
    let one = app
        .gql_as(token, ONE, json!({ "key": "mail.footer" }))
        .await;
    let unset = app.gql_as(token, ONE, json!({ "key": "never.set" })).await;
    let deleted = app
        .gql_as(token, DELETE, json!({ "key": "mail.footer" }))
        .await;
    let deleted_again = app
        .gql_as(token, DELETE, json!({ "key": "mail.footer" }))
        .await;
    let after = app.gql_as(token, ALL, json!({})).await;

    assert_eq!(
        created.data("setSetting")["value"],
        json!({ "text": "Sent by Acme", "show": true })
    );
    assert_eq!(replaced.data("setSetting")["value"], 50);
    assert_eq!(
        all.data("settings")["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["key"].clone(), s["value"].clone()))
            .collect::<Vec<_>>(),
        vec![
            (
                json!("mail.footer"),
                json!({ "text": "Sent by Acme", "show": true })
            ),
            (json!("ui.page-size"), json!(50)),
        ],
        "ordered by key, the replaced value once"
    );
    assert_eq!(one.data("setting")["value"]["show"], true);
    assert!(unset.is_ok());
    assert!(unset.body["data"]["setting"].is_null());
    assert_eq!(deleted.data("deleteSetting"), true);
    assert_eq!(deleted_again.body["data"]["deleteSetting"], false);
    assert_eq!(after.data("settings")["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(app.count("settings", "1 = 1").await, 1);
}

#[tokio::test]
async fn any_json_value_round_trips() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    for (key, value) in [
        ("a.string", json!("text")),
        ("a.number", json!(1.5)),
        ("a.bool", json!(false)),
        ("a.list", json!([1, "two", null])),
        ("a.null", Value::Null),
    ] {
        let response = if value.is_null() {
            // A JSON null cannot travel as a non-null variable; inline it.
            app.gql_as(
                &owner.access_token,
                "mutation { setSetting(key: \"a.null\", value: {v: null}) { value } }",
                json!({}),
            )
            .await
        } else {
            app.gql_as(
                &owner.access_token,
                SET,
                json!({ "key": key, "value": value }),
            )
            .await
        };
        let expected = if value.is_null() {
            json!({ "v": null })
        } else {
            value
        };
        assert_eq!(response.data("setSetting")["value"], expected, "{key}");
        let read = app
            .gql_as(&owner.access_token, ONE, json!({ "key": key }))
            .await;
        assert_eq!(read.data("setting")["value"], expected, "{key} read back");
    }
}

#[tokio::test]
async fn only_admins_write_settings_but_every_member_reads_them() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.sql("UPDATE tenants SET max_users = 10").await;
    let admin = app.add_member(&owner, "admin@acme.example", "ADMIN").await;
    let member = app
        .add_member(&owner, "member@acme.example", "MEMBER")
        .await;
    let viewer = app
        .add_member(&owner, "viewer@acme.example", "VIEWER")
        .await;
    let read_key = app.api_key(&owner, &["READ"]).await;
    let write_key = app.api_key(&owner, &["WRITE"]).await;
    let admin_key = app.api_key(&owner, &["ADMIN"]).await;
    app.gql_as(
        &owner.access_token,
        SET,
        json!({ "key": "brand.color", "value": "#f00" }),
    )
    .await;

    let by_admin = app
        .gql_as(
            &admin.access_token,
            SET,
            json!({ "key": "brand.font", "value": "Inter" }),
        )
        .await;
    let by_admin_key = app
        .gql_as(
            &admin_key,
            SET,
            json!({ "key": "brand.logo", "value": "logo.png" }),
        )
        .await;

    assert_eq!(by_admin.data("setSetting")["value"], "Inter");
    assert_eq!(by_admin_key.data("setSetting")["value"], "logo.png");
    for token in [
        member.access_token.as_str(),
        viewer.access_token.as_str(),
        read_key.as_str(),
        write_key.as_str(),
    ] {
        app.gql_as(token, SET, json!({ "key": "brand.color", "value": "#0f0" }))
            .await
            .expect_error("FORBIDDEN");
        app.gql_as(token, DELETE, json!({ "key": "brand.color" }))
            .await
            .expect_error("FORBIDDEN");
        let read = app
            .gql_as(token, ONE, json!({ "key": "brand.color" }))
            .await;
        assert_eq!(read.data("setting")["value"], "#f00");
        let all = app.gql_as(token, ALL, json!({})).await;
        assert_eq!(all.data("settings")["nodes"].as_array().unwrap().len(), 3);
    }
    assert_eq!(app.count("settings", "1 = 1").await, 3);
}

#[tokio::test]
async fn setting_keys_and_values_are_validated_naming_the_argument() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let token = owner.access_token.as_str();
    // 16 KiB serialised: a string of 16 382 characters plus its two quotes.
    let largest = "x".repeat(16 * 1024 - 2);
    let too_large = "x".repeat(16 * 1024 - 1);

    let bad_keys = ["", "Mail", "1st", "has space", "a/b", &"k".repeat(65)];
    for key in bad_keys {
        let set = app
            .gql_as(token, SET, json!({ "key": key, "value": 1 }))
            .await;
        assert_eq!(field_of(&set), "key", "{key:?}");
        let read = app.gql_as(token, ONE, json!({ "key": key })).await;
        assert_eq!(field_of(&read), "key", "{key:?}");
        let delete = app.gql_as(token, DELETE, json!({ "key": key })).await;
        assert_eq!(field_of(&delete), "key", "{key:?}");
    }
    let big = app
        .gql_as(token, SET, json!({ "key": "big", "value": too_large }))
        .await;
    let fits = app
        .gql_as(token, SET, json!({ "key": "big", "value": largest }))
        .await;
    let longest_key = app
        .gql_as(token, SET, json!({ "key": "k".repeat(64), "value": 1 }))
        .await;

    assert_eq!(field_of(&big), "value");
    assert!(fits.is_ok(), "{:?}", fits.body["errors"]);
    assert!(longest_key.is_ok(), "{:?}", longest_key.body["errors"]);
    assert_eq!(app.count("settings", "1 = 1").await, 2);
}

#[tokio::test]
async fn every_setting_mutation_writes_an_audit_row() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app
        .add_member(&owner, "viewer@acme.example", "VIEWER")
        .await;
    let token = owner.access_token.as_str();

    app.gql_as(token, SET, json!({ "key": "a", "value": 1 }))
        .await;
    app.gql_as(token, SET, json!({ "key": "a", "value": 2 }))
        .await;
    app.gql_as(&viewer.access_token, SET, json!({ "key": "a", "value": 3 }))
        .await;
    app.gql_as(token, DELETE, json!({ "key": "a" })).await;
    app.gql_as(token, DELETE, json!({ "key": "a" })).await;

    assert_eq!(
        app.count("audit_log", "action = 'setSetting' AND outcome = 'success'")
            .await,
        2
    );
    assert_eq!(
        app.count("audit_log", "action = 'setSetting' AND outcome = 'failure'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'deleteSetting' AND outcome = 'success'"
        )
        .await,
        2
    );
    assert_eq!(
        app.count(
            "audit_log",
            "entity_type = 'setting' AND entity_id IS NOT NULL"
        )
        .await,
        3,
        "two sets and the delete that found the key name the row"
    );
}

#[tokio::test]
async fn another_tenants_settings_are_invisible_and_untouched() {
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let b = app.sign_up("beta").await;
    app.gql_as(
        &b.access_token,
        SET,
        json!({ "key": "shared.name", "value": "beta's" }),
    )
    .await;
    app.gql_as(
        &b.access_token,
        SET,
        json!({ "key": "beta.only", "value": true }),
    )
    .await;

    let all = app.gql_as(&a.access_token, ALL, json!({})).await;
    let one = app
        .gql_as(&a.access_token, ONE, json!({ "key": "beta.only" }))
        .await;
    let deleted = app
        .gql_as(&a.access_token, DELETE, json!({ "key": "beta.only" }))
        .await;
    let own = app
        .gql_as(
            &a.access_token,
            SET,
            json!({ "key": "shared.name", "value": "alpha's" }),
        )
        .await;
    let b_view = app
        .gql_as(&b.access_token, ONE, json!({ "key": "shared.name" }))
        .await;

    assert_eq!(all.data("settings")["nodes"], json!([]));
    assert!(one.is_ok() && one.body["data"]["setting"].is_null());
    assert_eq!(deleted.body["data"]["deleteSetting"], false);
    assert_eq!(own.data("setSetting")["value"], "alpha's");
    assert_eq!(b_view.data("setting")["value"], "beta's");
    assert_eq!(app.count("settings", "1 = 1").await, 3);
}
