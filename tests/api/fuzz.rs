//! Fuzzing the document checks and the executor through the real server:
//! random and mutated documents (deep nesting, huge numbers, odd unicode,
//! cut and repeated pieces of real queries) and random variables, by POST,
//! by GET and over WebSocket. Whatever arrives, the answer is never a 5xx
//! and never a panic, and the server is alive at the end.
//!
//! Documents are drawn with proptest strategies from a fixed seed, so a
//! failure names a document that reproduces it. `FUZZ_CASES` sets how many
//! (default 1500) and `FUZZ_SECONDS` caps the time (default 40): CI runs a
//! bounded sample on every change.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Real documents the mutations start from: every kind of construct the
/// parser and validation know.
const CORPUS: &[&str] = &[
    "{ __typename }",
    "{ me { role tenant { id name plan { tier maxLeads } } user { email } } }",
    "query Leads($n: Int, $f: LeadFilter) { leads(first: $n, filter: $f, orderBy: { field: SCORE, direction: DESC }) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id email score tags company { name } stage { name } } } } }",
    "{ leads(filter: { and: [{ score: { gte: 10 } }, { or: [{ status: { eq: NEW } }, { tags: { contains: \"vip\" } }] }] }, search: \"acme\") { edges { node { id } } } }",
    "mutation { createLead(input: { email: \"a@b.example\", firstName: \"Ä\", customFields: { k: [1, 2.5e3, null, true, \"s\"] } }) { id } }",
    "query A { ...F } fragment F on QueryRoot { me { role } } query B { __schema { types { name kind fields { name args { name type { name ofType { name } } } } } } }",
    "subscription { domainEvents(after: \"0\", kinds: [LEAD_CREATED]) { cursor kind payload } }",
    "{ a: __typename @skip(if: false) b: __type(name: \"Lead\") { name } }",
    "query Q($x: Boolean = true) { __typename @include(if: $x) }",
    "{ leads(last: 5, before: \"bm90LWEtY3Vyc29y\") { edges { node { id } } } }",
];

/// Pieces that stress the lexer, the parser and coercion when spliced in.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "...",
    "@",
    "$",
    ":",
    "!",
    "=",
    "|",
    "&",
    "\"",
    "\"\"\"",
    "#",
    "\\",
    "\\u0000",
    "\\uD800",
    "\u{0}",
    "\u{FEFF}",
    "\u{202E}",
    "\u{1F600}",
    "é",
    "\r",
    "\t",
    "99999999999999999999999999",
    "-0",
    "1e999999",
    "0.0000000000000000000001",
    "NaN",
    "2147483648",
    "-2147483649",
    "null",
    "true",
    "on",
    "fragment",
    "query",
    "mutation",
    "subscription",
    "__schema",
    "__typename",
    "first: 1000000",
    "last: -1",
    "after: \"\"",
];

fn mutated_document() -> impl Strategy<Value = String> {
    let splice = (
        any::<prop::sample::Index>(),
        prop::sample::select(PIECES),
        1usize..40,
    );
    let edit = prop_oneof![
        // Insert a piece, possibly many times over.
        splice.prop_map(|(at, piece, times)| Edit::Insert(at, piece.repeat(times))),
        // Cut a range.
        (any::<prop::sample::Index>(), 1usize..30).prop_map(|(at, len)| Edit::Cut(at, len)),
        // Nest a bracket far deeper than any real query.
        (
            any::<prop::sample::Index>(),
            prop::sample::select(&["[", "{", "(", "{a:"][..]),
            10usize..5000
        )
            .prop_map(|(at, open, depth)| Edit::Insert(at, open.repeat(depth))),
        // Arbitrary unicode.
        (any::<prop::sample::Index>(), "\\PC{1,20}").prop_map(|(at, text)| Edit::Insert(at, text)),
    ];
    (
        prop::sample::select(CORPUS),
        prop::collection::vec(edit, 0..6),
    )
        .prop_map(|(base, edits)| {
            let mut document: Vec<char> = base.chars().collect();
            for edit in edits {
                edit.apply(&mut document);
            }
            document.into_iter().collect()
        })
}

fn random_document() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => mutated_document(),
        1 => "\\PC{0,300}",
        1 => prop::collection::vec(prop::sample::select(PIECES), 0..200).prop_map(|p| p.concat()),
    ]
}

fn random_variables() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,20}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::hash_map("[a-z]{1,6}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::hash_map(
        prop::sample::select(&["n", "f", "x", "first", "filter"][..]),
        value,
        0..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(prop::sample::Index, String),
    Cut(prop::sample::Index, usize),
}

impl Edit {
    fn apply(self, document: &mut Vec<char>) {
        match self {
            Edit::Insert(at, text) => {
                let at = at.index(document.len() + 1);
                document.splice(at..at, text.chars());
            }
            Edit::Cut(at, len) if !document.is_empty() => {
                let at = at.index(document.len());
                let end = (at + len).min(document.len());
                document.drain(at..end);
            }
            Edit::Cut(..) => {}
        }
    }
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
async fn random_and_mutated_documents_never_break_the_server() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("fuzz").await;
    let cases = setting("FUZZ_CASES", 1500);
    let deadline = Instant::now() + Duration::from_secs(setting("FUZZ_SECONDS", 40));
    // A fixed seed: the same documents on every run, so a failure repeats.
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = (random_document(), random_variables(), 0u8..10);
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;

    let mut sent = 0;
    while sent < cases && Instant::now() < deadline {
        let (document, variables, transport) =
            strategy.new_tree(&mut runner).expect("a case").current();
        let described = || format!("document {document:?} variables {variables}");
        match transport {
            // Over WebSocket: the socket must answer and stay open.
            0 => {
                let id = format!("f{sent}");
                ws.send(json!({ "id": id, "type": "subscribe",
                    "payload": { "query": document, "variables": variables } }))
                    .await;
                settle_operation(&mut ws, &id, &described).await;
            }
            1 | 2 => {
                let response = app
                    .http
                    .get(app.url("/graphql"))
                    .query(&[
                        ("query", document.as_str()),
                        ("variables", &variables.to_string()),
                    ])
                    .bearer_auth(&owner.access_token)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e} for {}", described()));
                assert!(
                    response.status().as_u16() < 500,
                    "{} for {}",
                    response.status(),
                    described()
                );
            }
            _ => {
                let response = app
                    .http
                    .post(app.url("/graphql"))
                    .bearer_auth(&owner.access_token)
                    .header("accept", "application/graphql-response+json")
                    .json(&json!({ "query": document, "variables": variables }))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e} for {}", described()));
                let status = response.status().as_u16();
                let body: Value = response
                    .json()
                    .await
                    .unwrap_or_else(|e| panic!("not JSON ({e}) for {}", described()));
                assert!(status < 500, "{status} {body} for {}", described());
                if body["data"].is_null() {
                    let errors = body["errors"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{body}"));
                    assert!(
                        errors.iter().all(|e| e["extensions"]["code"].is_string()),
                        "an error without a code: {body} for {}",
                        described()
                    );
                }
            }
        }
        sent += 1;
    }

    assert!(
        sent >= cases.min(50),
        "only {sent} cases ran in the time allowed"
    );
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let me = app
        .gql_as(&owner.access_token, "{ me { role } }", json!({}))
        .await;
    assert_eq!(me.data("me")["role"], "OWNER");
}

/// Reads until the operation `id` is over (error, or complete), or, for a
/// subscription that is legitimately running, stops it.
async fn settle_operation(ws: &mut crate::helpers::Ws, id: &str, described: &dyn Fn() -> String) {
    loop {
        let message = tokio::time::timeout(Duration::from_millis(500), ws.next_json()).await;
        let Ok(message) = message else {
            // A live subscription with nothing to say yet: complete it.
            ws.send(json!({ "id": id, "type": "complete" })).await;
            return;
        };
        assert_ne!(
            message["type"],
            "connection_error",
            "{message} for {}",
            described()
        );
        if message["id"] != id {
            continue;
        }
        match message["type"].as_str() {
            Some("error") => {
                let errors = message["payload"].as_array().expect("errors");
                assert!(
                    errors.iter().all(|e| e["extensions"]["code"].is_string()),
                    "an error without a code: {message} for {}",
                    described()
                );
                return;
            }
            Some("complete") => return,
            _ => {}
        }
    }
}
