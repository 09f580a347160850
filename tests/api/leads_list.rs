//! The list API: filters, search, orders, keyset pages; the no-N+1 proof;
//! and lead isolation between tenants.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp};
use crate::leads::{create_company, create_lead};

async fn emails(app: &TestApp, session: &Session, args: &str, variables: Value) -> Vec<String> {
    // Declare exactly the variables the arguments use.
    let declared: Vec<&str> = [
        ("$after", "$after: String"),
        ("$before", "$before: String"),
        ("$filter", "$filter: LeadFilter"),
    ]
    .into_iter()
    .filter(|(name, _)| args.contains(name))
    .map(|(_, declaration)| declaration)
    .collect();
    let header = if declared.is_empty() {
        String::new()
    } else {
        format!("({})", declared.join(", "))
    };
    let query = format!("query{header} {{ leads({args}) {{ edges {{ node {{ email }} }} }} }}");
    let response = app.gql_as(&session.access_token, &query, variables).await;
    response.data("leads")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            edge["node"]["email"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn seeded() -> (TestApp, Session) {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let globex = create_company(&app, &owner, "Globex").await;
    let leads = [
        json!({ "firstName": "Ada", "lastName": "Lovelace", "email": "ada@x.example", "country": "GB", "status": "NEW", "qualityScore": 90, "tags": ["vip"] }),
        json!({ "firstName": "Alan", "lastName": "Turing", "email": "alan@x.example", "country": "GB", "status": "CONTACTED", "qualityScore": 70, "companyId": globex }),
        json!({ "firstName": "Grace", "lastName": "Hopper", "email": "grace@x.example", "country": "US", "status": "INTERESTED", "qualityScore": 50, "tags": ["vip", "navy"] }),
        json!({ "firstName": "Edsger", "lastName": "Dijkstra", "email": "edsger@x.example", "country": "NL", "status": "NEW", "tags": ["algo"] }),
        json!({ "firstName": "Barbara", "lastName": "Liskov", "email": "barbara@x.example", "country": "US", "status": "NOT_INTERESTED", "qualityScore": 80 }),
    ];
    for lead in leads {
        create_lead(&app, &owner, lead).await;
    }
    (app, owner)
}

#[tokio::test]
async fn filters_combine_with_and_or_not() {
    let (app, owner) = seeded().await;
    let cases = [
        (json!({ "country": { "eq": "gb" } }), vec!["alan", "ada"]),
        (
            json!({ "status": { "in": ["NEW", "INTERESTED"] } }),
            vec!["edsger", "grace", "ada"],
        ),
        (
            json!({ "qualityScore": { "gte": 70 } }),
            vec!["barbara", "alan", "ada"],
        ),
        (
            json!({ "qualityScore": { "isNull": true } }),
            vec!["edsger"],
        ),
        (json!({ "tags": { "all": ["vip", "navy"] } }), vec!["grace"]),
        (
            json!({ "tags": { "in": ["navy", "algo"] } }),
            vec!["edsger", "grace"],
        ),
        (
            json!({ "or": [{ "country": { "eq": "NL" } }, { "tags": { "contains": "vip" } }] }),
            vec!["edsger", "grace", "ada"],
        ),
        (
            json!({ "country": { "eq": "US" }, "not": { "status": { "eq": "NOT_INTERESTED" } } }),
            vec!["grace"],
        ),
        (json!({ "email": { "startsWith": "ED" } }), vec!["edsger"]),
        (json!({ "companyId": { "isNull": false } }), vec!["alan"]),
        (
            json!({ "createdAt": { "gt": "2000-01-01T00:00:00Z" }, "country": { "ne": "GB" } }),
            vec!["barbara", "edsger", "grace"],
        ),
    ];
    for (filter, expected) in cases {
        let got = emails(&app, &owner, "filter: $filter", json!({ "filter": filter })).await;
        let got: Vec<String> = got
            .iter()
            .map(|e| e.split('@').next().unwrap().to_owned())
            .collect();
        assert_eq!(got, expected, "filter {filter}");
    }
}

#[tokio::test]
async fn search_matches_names_emails_and_company_names() {
    let (app, owner) = seeded().await;
    let search = |text: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            let response = app
                .gql_as(&owner.access_token, "query($s: String) { leads(search: $s) { totalCount edges { node { email } } } }", json!({ "s": text }))
                .await;
            response.data("leads")["totalCount"].as_u64().unwrap()
        }
    };
    assert_eq!(search("lovel").await, 1, "last name fragment");
    assert_eq!(search("GRACE@").await, 1, "email, any case");
    assert_eq!(search("globex").await, 1, "company name");
    assert_eq!(search("a").await, 5);
    assert_eq!(search("%").await, 0, "wildcards are literal");
}

/// The full names of every lead, page by page (`first: 2`) in `order`,
/// each node selecting `node`.
async fn walk(app: &TestApp, owner: &Session, order: &str, node: &str) -> Vec<String> {
    let query = format!(
        "query($after: String) {{ leads(first: 2, after: $after, orderBy: {order}) {{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {node} }} }} }} }}"
    );
    let mut seen = Vec::new();
    let mut after = Value::Null;
    for _ in 0..10 {
        let response = app
            .gql_as(&owner.access_token, &query, json!({ "after": after }))
            .await;
        let page = response.data("leads").clone();
        assert_eq!(page["totalCount"], 5);
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"]["fullName"].as_str().unwrap().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    seen
}

#[tokio::test]
async fn keyset_pages_walk_every_order_without_gaps_or_duplicates() {
    let (app, owner) = seeded().await;
    for field in [
        "NAME",
        "SCORE",
        "UPDATED_AT",
        "CREATED_AT",
        "LAST_CONTACTED_AT",
    ] {
        for direction in ["ASC", "DESC"] {
            let order = format!("{{ field: {field}, direction: {direction} }}");
            let seen = walk(&app, &owner, &order, "email fullName").await;
            assert_eq!(seen.len(), 5, "{order}: {seen:?}");
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 5, "{order}: duplicates in {seen:?}");
            // With relations the page joins them, and the joined rows are
            // put back in order by the server (or, for names, the database).
            let joined = walk(
                &app,
                &owner,
                &order,
                "email fullName company { name } stage { name } owner { email }",
            )
            .await;
            assert_eq!(joined, seen, "{order} with relations");
            if order == "{ field: NAME, direction: ASC }" {
                assert_eq!(
                    seen,
                    [
                        "Ada Lovelace",
                        "Alan Turing",
                        "Barbara Liskov",
                        "Edsger Dijkstra",
                        "Grace Hopper"
                    ]
                );
            }
        }
    }
}

#[tokio::test]
async fn backward_pages_mirror_forward_ones() {
    let (app, owner) = seeded().await;
    let forward = emails(
        &app,
        &owner,
        "first: 5, orderBy: { field: NAME, direction: ASC }",
        json!({}),
    )
    .await;
    let last_two = emails(
        &app,
        &owner,
        "last: 2, orderBy: { field: NAME, direction: ASC }",
        json!({}),
    )
    .await;
    assert_eq!(last_two, forward[3..].to_vec());
    let first_page = app
        .gql_as(&owner.access_token, "{ leads(first: 3, orderBy: { field: NAME, direction: ASC }) { pageInfo { endCursor } } }", json!({}))
        .await;
    let cursor = first_page.data("leads")["pageInfo"]["endCursor"].clone();
    let before = emails(
        &app,
        &owner,
        "last: 2, before: $before, orderBy: { field: NAME, direction: ASC }",
        json!({ "before": cursor }),
    )
    .await;
    assert_eq!(before, forward[0..2].to_vec());
    let foreign_order = emails_or_error(&app, &owner, cursor).await;
    assert_eq!(foreign_order, "after");
}

async fn emails_or_error(app: &TestApp, owner: &Session, cursor: Value) -> String {
    // A NAME cursor given to a SCORE ordering is refused, naming the argument.
    let response = app
        .gql_as(&owner.access_token, "query($a: String) { leads(first: 2, after: $a, orderBy: { field: SCORE }) { totalCount } }", json!({ "a": cursor }))
        .await;
    response.expect_error("BAD_USER_INPUT")["extensions"]["field"]
        .as_str()
        .unwrap()
        .to_owned()
}

const NESTED: &str = "query($n: Int!) { leads(first: $n) { edges { node { id fullName tags company { name } stage { name } owner { email } activities(first: 3) { edges { node { kind } } } notes(first: 2) { pageInfo { hasNextPage } nodes { body } } messages(first: 2) { nodes { status } } } } } }";

#[tokio::test]
async fn a_nested_page_costs_the_same_statements_for_5_and_50_leads() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let rep = app.add_member(&owner, "rep@acme.example", "MEMBER").await;
    let companies = [
        create_company(&app, &owner, "One").await,
        create_company(&app, &owner, "Two").await,
    ];
    let inputs: Vec<Value> = (0..50)
        .map(|i| {
            json!({
                "email": format!("lead{i}@example.com"), "firstName": format!("Lead{i}"),
                "companyId": companies[i % 2], "ownerId": if i % 3 == 0 { &rep.user_id } else { &owner.user_id },
                "tags": [format!("t{}", i % 4)],
            })
        })
        .collect();
    app.gql_as(
        &owner.access_token,
        "mutation($i: [CreateLeadInput!]!) { upsertLeads(inputs: $i) { created } }",
        json!({ "i": inputs }),
    )
    .await
    .data("upsertLeads");

    let (five, five_statements) = app
        .gql_counting(&owner.access_token, NESTED, json!({ "n": 5 }))
        .await;
    let (fifty, fifty_statements) = app
        .gql_counting(&owner.access_token, NESTED, json!({ "n": 50 }))
        .await;

    assert_eq!(five.data("leads")["edges"].as_array().unwrap().len(), 5);
    let nodes = fifty.data("leads")["edges"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 50);
    assert!(nodes.iter().all(
        |e| e["node"]["company"]["name"].is_string() && e["node"]["owner"]["email"].is_string()
    ));
    assert!(
        nodes
            .iter()
            .all(|e| e["node"]["activities"]["edges"][0]["node"]["kind"] == "LEAD_CREATED")
    );
    assert_eq!(
        five_statements.len(),
        fifty_statements.len(),
        "statements must not grow with the page size:\n5 leads: {five_statements:#?}\n50 leads: {fifty_statements:#?}"
    );
    // Auth (membership, tenant), the page with its companies, stages and
    // owners joined, then one query each for tags, activities, notes and
    // messages.
    // PostgreSQL adds one RLS `set_config` per unit of work, which is not a
    // data query.
    let data: Vec<&String> = fifty_statements
        .iter()
        .filter(|sql| !sql.contains("set_config"))
        .collect();
    assert!(
        data.len() <= 6,
        "{} data statements for one nested page: {data:#?}",
        data.len()
    );
}

const NESTED_TOTALS: &str = "query($n: Int!) {
  leads(first: $n) { nodes { email activities { totalCount } notes(first: 1) { totalCount nodes { body } } messages { totalCount } } }
  companies(first: $n) { nodes { name leads(first: 2) { totalCount nodes { email } } notes { totalCount } } }
}";

#[tokio::test]
async fn nested_total_counts_are_right_and_cost_one_grouped_count_per_relation() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let companies = [
        create_company(&app, &owner, "One").await,
        create_company(&app, &owner, "Two").await,
    ];
    let inputs: Vec<Value> = (0..30)
        .map(|i| json!({ "email": format!("lead{i}@example.com"), "companyId": companies[i % 2] }))
        .collect();
    let created = app
        .gql_as(
            &owner.access_token,
            "mutation($i: [CreateLeadInput!]!) { upsertLeads(inputs: $i) { lead { id email } } }",
            json!({ "i": inputs }),
        )
        .await;
    let leads = created.data("upsertLeads").as_array().unwrap().clone();
    let newest = leads.last().unwrap()["lead"].clone();
    let note = "mutation($input: CreateNoteInput!) { createNote(input: $input) { id } }";
    for input in [
        json!({ "leadId": newest["id"], "body": "one" }),
        json!({ "leadId": newest["id"], "body": "two" }),
        json!({ "companyId": companies[1], "body": "about Two" }),
    ] {
        app.gql_as(&owner.access_token, note, json!({ "input": input }))
            .await
            .data("createNote");
    }
    // A lead in the trash leaves its company's count.
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { deleteLead(id: $id) { id } }",
        json!({ "id": leads[0]["lead"]["id"] }),
    )
    .await
    .data("deleteLead");

    let (two, two_statements) = app
        .gql_counting(&owner.access_token, NESTED_TOTALS, json!({ "n": 2 }))
        .await;
    let (all, all_statements) = app
        .gql_counting(&owner.access_token, NESTED_TOTALS, json!({ "n": 30 }))
        .await;

    assert_eq!(two.data("leads")["nodes"].as_array().unwrap().len(), 2);
    let lead_nodes = all.data("leads")["nodes"].as_array().unwrap().clone();
    assert_eq!(lead_nodes.len(), 29);
    let first = &lead_nodes[0];
    assert_eq!(first["email"], newest["email"]);
    assert_eq!(first["notes"]["totalCount"], 2);
    assert_eq!(first["notes"]["nodes"], json!([{ "body": "two" }]));
    // Created, then two notes added.
    assert_eq!(first["activities"]["totalCount"], 3, "{first}");
    assert!(
        lead_nodes[1..]
            .iter()
            .all(|lead| lead["notes"]["totalCount"] == 0
                && lead["activities"]["totalCount"] == 1
                && lead["messages"]["totalCount"] == 0)
    );
    let by_name = |name: &str| {
        all.data("companies")["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|company| company["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("One")["leads"]["totalCount"], 14);
    assert_eq!(by_name("Two")["leads"]["totalCount"], 15);
    assert_eq!(
        by_name("Two")["leads"]["nodes"].as_array().unwrap().len(),
        2
    );
    assert_eq!(by_name("Two")["notes"]["totalCount"], 1);
    assert_eq!(by_name("One")["notes"]["totalCount"], 0);

    assert_eq!(
        two_statements.len(),
        all_statements.len(),
        "statements must not grow with the page size:\n2: {two_statements:#?}\n30: {all_statements:#?}"
    );
    let counts = all_statements
        .iter()
        .filter(|sql| sql.contains("COUNT") && sql.contains("GROUP BY"))
        .count();
    assert_eq!(
        counts, 5,
        "one grouped count per relation: {all_statements:#?}"
    );
}

/// Every field of a lead without arguments, then of its company, stage and owner.
const LEAD_FIELDS: &[&str] = &[
    "id",
    "firstName",
    "lastName",
    "email",
    "phone",
    "jobTitle",
    "country",
    "city",
    "status",
    "score",
    "qualityScore",
    "verificationStatus",
    "budget { amount currencyCode }",
    "authority",
    "need",
    "timeline",
    "lifetimeValue { amount currencyCode }",
    "currency",
    "emailsSent",
    "emailsOpened",
    "emailsClicked",
    "lastContactedAt",
    "lastRespondedAt",
    "customFields",
    "enrichment",
    "convertedAt",
    "createdAt",
    "updatedAt",
    "deletedAt",
    "fullName",
    "tags",
    "source { id name }",
    "project { id name }",
    "scoreBreakdown { ruleId points }",
];
const COMPANY_FIELDS: &[&str] = &[
    "id",
    "name",
    "website",
    "domain",
    "industry",
    "size",
    "phone",
    "description",
    "enrichment",
    "customFields",
    "createdAt",
    "updatedAt",
    "address { line1 line2 city region postalCode country }",
];
const STAGE_FIELDS: &[&str] = &[
    "id",
    "name",
    "position",
    "color",
    "isDefault",
    "isWon",
    "isLost",
];
const OWNER_FIELDS: &[&str] = &["id", "email", "name", "locale"];

/// Every field of a lead, its company, stage and owner.
fn full_node() -> String {
    format!(
        "{} company {{ {} }} stage {{ {} }} owner {{ {} }}",
        LEAD_FIELDS.join(" "),
        COMPANY_FIELDS.join(" "),
        STAGE_FIELDS.join(" "),
        OWNER_FIELDS.join(" ")
    )
}

/// The name a selection's value comes back under (`address { … }` → `address`).
fn key_of(selection: &str) -> &str {
    selection.split_whitespace().next().unwrap()
}

/// Three leads: one with every field, a company with every field, a stage
/// and a member as owner; one with a bare company; one with nothing but a
/// name. Returns the tenant's owner and its stages.
async fn leads_with_relations(app: &TestApp) -> (Session, Value) {
    let owner = app.sign_up("acme").await;
    let rep = app.add_member(&owner, "rep@acme.example", "MEMBER").await;
    let full = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id } }",
            json!({ "input": {
                "name": "Initech", "website": "https://initech.example", "industry": "Software",
                "size": "MEDIUM", "phone": "+1 555 0100", "description": "TPS reports",
                "address": { "line1": "1 Main St", "city": "Austin", "region": "TX",
                             "postalCode": "73301", "country": "US" },
                "enrichment": { "employees": 250 } } }),
        )
        .await
        .data("createCompany")["id"]
        .clone();
    let bare = create_company(app, &owner, "Bare").await;
    let stages = app
        .gql_as(
            &owner.access_token,
            "{ leadStages { nodes { id } } }",
            json!({}),
        )
        .await
        .data("leadStages")["nodes"]
        .clone();
    let inputs = [
        json!({ "firstName": "Ada", "lastName": "Lovelace", "email": "ada@x.example",
                "phone": "+44 20 0000", "jobTitle": "Analyst", "country": "GB", "city": "London",
                "companyId": full, "stageId": stages[1]["id"], "ownerId": rep.user_id,
                "status": "INTERESTED", "qualityScore": 90, "verificationStatus": "VALID",
                "budget": "5000.00", "authority": "CFO", "need": "Engines",
                "timeline": "Q3", "lifetimeValue": "12", "currency": "GBP",
                "customFields": {}, "enrichment": { "source": "test" } }),
        json!({ "email": "bare@x.example", "companyId": bare }),
        json!({ "firstName": "Nobody" }),
    ];
    for input in inputs {
        create_lead(app, &owner, input).await;
    }
    (owner, stages)
}

#[tokio::test]
async fn a_page_reads_each_leads_company_stage_and_owner_as_the_lead_itself_does() {
    // A page fetches its leads' relations in the page's own statement; one
    // lead at a time goes through the loaders. Both must give the same
    // objects, NULLs and enums included.
    let app = TestApp::spawn().await;
    let (owner, stages) = leads_with_relations(&app).await;

    let page = app
        .gql_as(
            &owner.access_token,
            &format!(
                "{{ leads(first: 10) {{ edges {{ node {{ {} }} }} }} }}",
                full_node()
            ),
            json!({}),
        )
        .await;
    let nodes: Vec<Value> = page.data("leads")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    assert_eq!(nodes.len(), 3);
    for node in &nodes {
        let alone = app
            .gql_as(
                &owner.access_token,
                &format!("query($id: ID!) {{ lead(id: $id) {{ {} }} }}", full_node()),
                json!({ "id": node["id"] }),
            )
            .await;
        assert_eq!(
            node,
            alone.data("lead"),
            "the page and the lead itself differ"
        );
    }
    let ada = nodes.iter().find(|n| n["firstName"] == "Ada").unwrap();
    assert_eq!(ada["company"]["size"], "MEDIUM");
    assert_eq!(ada["company"]["address"]["region"], "TX");
    assert_eq!(ada["stage"]["id"], stages[1]["id"]);
    assert_eq!(ada["owner"]["email"], "rep@acme.example");
    let nobody = nodes.iter().find(|n| n["firstName"] == "Nobody").unwrap();
    assert_eq!(nobody["company"], Value::Null);
    assert!(nodes.iter().all(|n| n["stage"]["name"].is_string()));

    // Each field asked for alone must come back as it does among all the
    // others.
    let page_of = |node: String| {
        let app = &app;
        let token = owner.access_token.clone();
        async move {
            let query = format!("{{ leads(first: 10) {{ edges {{ node {{ {node} }} }} }} }}");
            let page = app.gql_as(&token, &query, json!({})).await;
            page.data("leads")["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| edge["node"].clone())
                .collect::<Vec<Value>>()
        }
    };
    for field in LEAD_FIELDS {
        let alone = page_of(field.to_string()).await;
        let key = key_of(field);
        for (one, all) in alone.iter().zip(&nodes) {
            assert_eq!(one[key], all[key], "lead field {field} read alone");
        }
    }
    let relations = [
        ("company", COMPANY_FIELDS),
        ("stage", STAGE_FIELDS),
        ("owner", OWNER_FIELDS),
    ];
    for (relation, fields) in relations {
        for field in fields {
            let alone = page_of(format!("{relation} {{ {field} }}")).await;
            let key = key_of(field);
            for (one, all) in alone.iter().zip(&nodes) {
                let expected = if all[relation].is_null() {
                    Value::Null
                } else {
                    json!({ key: all[relation][key] })
                };
                assert_eq!(
                    one[relation], expected,
                    "{relation} field {field} read alone"
                );
            }
        }
    }
}

#[tokio::test]
async fn nodes_and_edges_show_the_same_leads_with_every_field() {
    // `nodes { … }` and `edges { node { … } }` are two views of one page:
    // each shows every field it selects, alone or beside the other, and a
    // relation selected under either is read with the page.
    let app = TestApp::spawn().await;
    let (owner, _) = leads_with_relations(&app).await;
    let nodes_of = |selection: String| {
        let (app, token) = (&app, owner.access_token.clone());
        async move {
            let query = format!("{{ leads(first: 10) {{ {selection} }} }}");
            app.gql_as(&token, &query, json!({}))
                .await
                .data("leads")
                .clone()
        }
    };
    let by_edges: Vec<Value> =
        nodes_of(format!("edges {{ node {{ {} }} }}", full_node())).await["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"].clone())
            .collect();
    let by_nodes = nodes_of(format!("nodes {{ {} }}", full_node())).await["nodes"].clone();
    assert_eq!(by_nodes, json!(by_edges));

    let both = nodes_of(
        "nodes { email firstName fullName company { name } } edges { node { email } }".into(),
    )
    .await;
    let ada = both["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["email"] == "ada@x.example")
        .expect("Ada among the nodes");
    assert_eq!(ada["firstName"], "Ada");
    assert_eq!(ada["fullName"], "Ada Lovelace");
    assert_eq!(ada["company"]["name"], "Initech");
    assert_eq!(both["edges"].as_array().unwrap().len(), 3);

    // The company comes with the page's own statement: authentication and
    // the page, nothing that reads companies on its own.
    let (_, statements) = app
        .gql_counting(
            &owner.access_token,
            "{ leads(first: 10) { nodes { email company { name } } } }",
            json!({}),
        )
        .await;
    assert!(
        statements.len() <= 2
            && !statements
                .iter()
                .any(|sql| sql.contains("FROM \"companies\"")),
        "{statements:#?}"
    );
}

#[tokio::test]
async fn another_tenants_leads_are_not_found_and_never_referenced() {
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let b = app.sign_up("beta").await;
    let b_company = create_company(&app, &b, "BetaCo").await;
    let b_lead = create_lead(
        &app,
        &b,
        json!({ "email": "b@beta.example", "companyId": b_company }),
    )
    .await;
    let a_lead = create_lead(&app, &a, json!({ "email": "a@alpha.example" })).await;
    let b_stage = app
        .gql_as(
            &b.access_token,
            "{ leadStages { nodes { id } } }",
            json!({}),
        )
        .await
        .data("leadStages")["nodes"][0]["id"]
        .clone();
    let id = b_lead["id"].clone();
    let by_b_id = [
        (
            "query($id: ID!) { lead(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { updateLead(id: $id, input: { firstName: \"X\" }) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { deleteLead(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { restoreLead(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { convertLead(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { assignLead(id: $id, ownerId: null) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { addTags(id: $id, tags: [\"x\"]) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { removeTags(id: $id, tags: [\"x\"]) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!, $s: ID!) { moveLeadToStage(id: $id, stageId: $s) { id } }",
            json!({ "id": id, "s": b_stage }),
        ),
        (
            "mutation($id: ID!, $p: ID!) { mergeLeads(primaryId: $p, duplicateIds: [$id]) { id } }",
            json!({ "id": id, "p": a_lead["id"] }),
        ),
        (
            "mutation($id: ID!) { logActivity(input: { leadId: $id, kind: CALL, summary: \"x\" }) { id } }",
            json!({ "id": id }),
        ),
        // References into tenant beta from alpha's own lead:
        (
            "mutation($id: ID!, $c: ID!) { updateLead(id: $id, input: { companyId: $c }) { id } }",
            json!({ "id": a_lead["id"], "c": b_company }),
        ),
        (
            "mutation($id: ID!, $s: ID!) { moveLeadToStage(id: $id, stageId: $s) { id } }",
            json!({ "id": a_lead["id"], "s": b_stage }),
        ),
        (
            "mutation($id: ID!, $o: ID!) { assignLead(id: $id, ownerId: $o) { id } }",
            json!({ "id": a_lead["id"], "o": b.user_id }),
        ),
    ];
    for (operation, variables) in by_b_id {
        let response = app.gql_as(&a.access_token, operation, variables).await;
        assert_eq!(
            response.code(),
            Some("NOT_FOUND"),
            "{operation}: {:?}",
            response.body
        );
    }
    let bulk = app
        .gql_as(
            &a.access_token,
            "mutation($id: ID!) { bulkUpdateLeads(ids: [$id], patch: { status: INVALID }) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        bulk.data("bulkUpdateLeads"),
        0,
        "ids of another tenant match nothing"
    );
    let listed = app.gql_as(&a.access_token, "{ leads { totalCount } leadAnalytics { total } s: leads(search: \"beta\") { totalCount } }", json!({})).await;
    assert_eq!(listed.data("leads")["totalCount"], 1);
    assert_eq!(listed.data("leadAnalytics")["total"], 1);
    assert_eq!(listed.data("s")["totalCount"], 0);
    assert_eq!(
        app.count("leads", "status = 'new'").await,
        2,
        "nothing changed"
    );
}

#[tokio::test]
async fn the_database_refuses_a_lead_pointing_into_another_tenant() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let b = app.sign_up("beta").await;
    let a_lead = create_lead(&app, &a, json!({ "email": "a@alpha.example" })).await;
    let b_company = create_company(&app, &b, "BetaCo").await;
    let b_project = app
        .gql_as(
            &b.access_token,
            "mutation { createProject(input: { name: \"P\" }) { id } }",
            json!({}),
        )
        .await
        .data("createProject")["id"]
        .clone();
    let b_source = app
        .gql_as(
            &b.access_token,
            "mutation { createLeadSource(input: { name: \"S\", type: WEBSITE }) { id } }",
            json!({}),
        )
        .await
        .data("createLeadSource")["id"]
        .clone();
    let b_stage = app
        .gql_as(
            &b.access_token,
            "{ leadStages { nodes { id } } }",
            json!({}),
        )
        .await
        .data("leadStages")["nodes"][0]["id"]
        .clone();
    let uuid = |v: &Value| uuid::Uuid::parse_str(v.as_str().unwrap()).unwrap();
    let backend = app.db.get_database_backend();
    for (column, foreign) in [
        ("company_id", uuid(&json!(b_company))),
        ("project_id", uuid(&b_project)),
        ("source_id", uuid(&b_source)),
        ("stage_id", uuid(&b_stage)),
        ("owner_id", uuid(&json!(b.user_id))),
    ] {
        let sql = match backend {
            DbBackend::Postgres => format!("UPDATE leads SET {column} = $1 WHERE id = $2"),
            _ => format!("UPDATE leads SET {column} = ? WHERE id = ?"),
        };
        let result = app
            .db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [foreign.into(), uuid(&a_lead["id"]).into()],
            ))
            .await;
        assert!(
            result.is_err(),
            "{column}: the composite foreign key must refuse it"
        );
    }
}

#[tokio::test]
async fn date_filters_take_a_whole_day_or_an_instant() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    for (email, at) in [
        ("late@x.example", "2026-11-30T23:59:59+00:00"),
        ("midnight@x.example", "2026-12-01T00:00:00+00:00"),
        ("early@x.example", "2026-11-29T08:00:00+00:00"),
    ] {
        create_lead(&app, &owner, json!({ "email": email })).await;
        app.sql(&format!(
            "UPDATE leads SET created_at = '{at}' WHERE email = '{email}'"
        ))
        .await;
    }
    let emails = |filter: Value| {
        let app = &app;
        let token = owner.access_token.clone();
        async move {
            let page = app
                .gql_as(
                    &token,
                    "query($f: LeadFilter) { leads(filter: $f) { nodes { email } } }",
                    json!({ "f": filter }),
                )
                .await;
            let mut emails = page.data("leads")["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["email"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>();
            emails.sort();
            emails
        }
    };

    let on_the_day = emails(json!({ "createdAt": { "eq": "2026-11-30" } })).await;
    let through_the_day = emails(json!({ "createdAt": { "lte": "2026-11-30" } })).await;
    let after_the_day = emails(json!({ "createdAt": { "gt": "2026-11-30" } })).await;
    let from_an_instant = emails(json!({ "createdAt": { "gte": "2026-11-30T23:59:59Z" } })).await;
    let garbage = app
        .gql_as(
            &owner.access_token,
            "{ leads(filter: { createdAt: { gte: \"30/11/2026\" } }) { totalCount } }",
            json!({}),
        )
        .await;
    let analytics = app
        .gql_as(
            &owner.access_token,
            "{ leadAnalytics(from: \"2026-11-30\", to: \"2026-11-30\") { createdInPeriod } }",
            json!({}),
        )
        .await;

    assert_eq!(on_the_day, ["late@x.example"]);
    assert_eq!(through_the_day, ["early@x.example", "late@x.example"]);
    assert_eq!(after_the_day, ["midnight@x.example"]);
    assert_eq!(from_an_instant, ["late@x.example", "midnight@x.example"]);
    assert!(garbage.code().is_some() && garbage.body.to_string().contains("30/11/2026"));
    assert_eq!(analytics.data("leadAnalytics")["createdInPeriod"], 1);
}
