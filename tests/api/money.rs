//! Money is `Money { amount: Decimal! currencyCode: CurrencyCode! }`: exact
//! decimal strings in ISO 4217 currencies, never a 64-bit `Int`.

use serde_json::json;

use crate::helpers::{TestApp, bad_field};

const CREATE: &str = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id currency budget { amount currencyCode } lifetimeValue { amount currencyCode } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateLeadInput!) { updateLead(id: $id, input: $input) { currency budget { amount currencyCode } lifetimeValue { amount currencyCode } } }";

#[tokio::test]
async fn amounts_round_trip_exactly_in_their_currency() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let lead = app
        .gql_as(
            &owner.access_token,
            CREATE,
            // 2^53 + 1 cents: a JavaScript number would round it.
            json!({ "input": { "firstName": "A", "currency": "USD", "budget": "25000.5",
                               "lifetimeValue": "90071992547409.93" } }),
        )
        .await;
    let lead = lead.data("createLead");

    assert_eq!(lead["currency"], "USD");
    assert_eq!(
        lead["budget"],
        json!({ "amount": "25000.50", "currencyCode": "USD" })
    );
    assert_eq!(
        lead["lifetimeValue"],
        json!({ "amount": "90071992547409.93", "currencyCode": "USD" })
    );
    assert_eq!(
        app.count("leads", "lifetime_value_cents = 9007199254740993")
            .await,
        1
    );
}

#[tokio::test]
async fn a_new_currency_keeps_the_amounts_or_is_refused() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let id = app
        .gql_as(
            &owner.access_token,
            CREATE,
            json!({ "input": { "firstName": "A", "budget": "10.00", "lifetimeValue": "10.50" } }),
        )
        .await
        .data("createLead")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let to_yen = app
        .gql_as(
            &owner.access_token,
            UPDATE,
            json!({ "id": id, "input": { "currency": "JPY" } }),
        )
        .await;
    let to_dinar = app
        .gql_as(
            &owner.access_token,
            UPDATE,
            json!({ "id": id, "input": { "currency": "KWD", "budget": null } }),
        )
        .await;

    assert_eq!(
        bad_field(&to_yen),
        "input.currency",
        "10.50 EUR has no yen value"
    );
    let dinar = to_dinar.data("updateLead");
    assert_eq!(dinar["currency"], "KWD");
    assert_eq!(dinar["budget"], json!(null));
    assert_eq!(dinar["lifetimeValue"]["amount"], "10.500");
}

#[tokio::test]
async fn only_iso_currencies_and_32_bit_ints_are_taken() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let unknown_currency = app
        .gql_as(
            &owner.access_token,
            CREATE,
            json!({ "input": { "firstName": "A", "currency": "ZZZ" } }),
        )
        .await;
    let big_int = app
        .gql_as(
            &owner.access_token,
            CREATE,
            json!({ "input": { "firstName": "A", "qualityScore": 9007199254740993_i64 } }),
        )
        .await;

    assert!(
        unknown_currency.code().is_some(),
        "{:?}",
        unknown_currency.body
    );
    assert!(
        unknown_currency.body.to_string().contains("ZZZ"),
        "{:?}",
        unknown_currency.body
    );
    assert!(big_int.code().is_some(), "{:?}", big_int.body);
    assert_eq!(app.count("leads", "1 = 1").await, 0);
}

#[tokio::test]
async fn no_field_answers_money_or_big_numbers_as_an_int() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let fields = app
        .gql_as(
            &owner.access_token,
            "{ lead: __type(name: \"Lead\") { fields { name type { name ofType { name } } } }
               tenant: __type(name: \"Tenant\") { fields { name type { name ofType { name } } } } }",
            json!({}),
        )
        .await;

    let type_of = |on: &str, field: &str| {
        let fields = fields.data(on)["fields"].as_array().unwrap();
        let f = fields
            .iter()
            .find(|f| f["name"] == field)
            .unwrap_or_else(|| panic!("{on}.{field}"));
        f["type"]["name"]
            .as_str()
            .or(f["type"]["ofType"]["name"].as_str())
            .unwrap()
            .to_owned()
    };
    assert_eq!(type_of("lead", "budget"), "Money");
    assert_eq!(type_of("lead", "lifetimeValue"), "Money");
    assert_eq!(type_of("lead", "currency"), "CurrencyCode");
    assert_eq!(type_of("tenant", "creditBalance"), "BigInt");
    let lead_fields = fields.data("lead")["fields"].as_array().unwrap();
    assert!(
        lead_fields
            .iter()
            .all(|f| !f["name"].as_str().unwrap().ends_with("Cents"))
    );
}
