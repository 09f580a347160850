//! Response keys in the order the query asks for them.
//!
//! The spec orders an object's keys as CollectFields meets them (§7.1:
//! "ordered by the order in which they appear in the query"), and clients
//! and people reading responses rely on it. async-graphql 7 resolves an
//! object's fields concurrently and stores each one as it completes
//! (`FuturesUnordered` in `do_resolve_container`; async-graphql#612), so a
//! field that waits on the database lands after a later one that does not.
//! This pass puts them back, walking the response beside the executed
//! document.
//!
//! The order is taken from every fragment of a selection, whatever its type
//! condition. On an object type that is exact (validation only lets a
//! fragment into an object's selection if it applies to that object); under
//! an interface, fragments for two types that select the same keys in
//! different orders would share the first one's order.

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Name, Value};

/// The response keys of a selection (fragments flattened), in query order,
/// each with the sub-selections of the fields that answer to it.
type Keys<'a> = IndexMap<&'a Name, Vec<&'a SelectionSet>>;

/// Reorders `data`, the response to `operation` of `document`.
pub fn restore_order(data: &mut Value, document: &ExecutableDocument, operation: Option<&str>) {
    let selection = match (&document.operations, operation) {
        (DocumentOperations::Single(op), _) => &op.node.selection_set.node,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => &op.node.selection_set.node,
            None => return,
        },
        (DocumentOperations::Multiple(ops), None) => match ops.values().next() {
            Some(op) if ops.len() == 1 => &op.node.selection_set.node,
            _ => return,
        },
    };
    let keys = keys_of(&[selection], document);
    order(data, &keys, document);
}

fn keys_of<'a>(sets: &[&'a SelectionSet], document: &'a ExecutableDocument) -> Keys<'a> {
    let mut keys = Keys::new();
    for set in sets {
        collect(set, document, &mut keys);
    }
    keys
}

fn collect<'a>(set: &'a SelectionSet, document: &'a ExecutableDocument, keys: &mut Keys<'a>) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                let subs = keys.entry(&field.response_key().node).or_default();
                if !field.selection_set.node.items.is_empty() {
                    subs.push(&field.selection_set.node);
                }
            }
            Selection::FragmentSpread(spread) => {
                // Validation refused cycles before anything executed.
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect(&fragment.node.selection_set.node, document, keys);
                }
            }
            Selection::InlineFragment(inline) => {
                collect(&inline.node.selection_set.node, document, keys);
            }
        }
    }
}

fn order(value: &mut Value, keys: &Keys<'_>, document: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                order(item, keys, document);
            }
        }
        Value::Object(map) => {
            let position = |name: &Name| keys.get_index_of(name).unwrap_or(usize::MAX);
            let sorted = map
                .keys()
                .zip(map.keys().skip(1))
                .all(|(a, b)| position(a) <= position(b));
            if !sorted {
                map.sort_by(|a, _, b, _| position(a).cmp(&position(b)));
            }
            for (name, child) in map.iter_mut() {
                if let Some(subs) = keys.get(name).filter(|subs| !subs.is_empty()) {
                    // Once per field, not per item of a list.
                    let child_keys = keys_of(subs, document);
                    order(child, &child_keys, document);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use serde_json::json;

    use super::*;

    fn reordered(query: &str, data: serde_json::Value) -> String {
        let document = parse_query(query).unwrap();
        let mut value = Value::from_json(data).unwrap();
        restore_order(&mut value, &document, None);
        value.into_json().unwrap().to_string()
    }

    #[test]
    fn keys_follow_the_query_through_lists_aliases_and_fragments() {
        let query = "{ b: leads { totalCount nodes { ...F id } } a: tenant { slug } }
                     fragment F on Lead { name ... on Lead { email } }";
        let data = json!({
            "a": { "slug": "acme" },
            "b": { "nodes": [ { "id": 1, "email": "x", "name": "n" }, { "email": "y", "id": 2, "name": "m" } ], "totalCount": 2 }
        });

        assert_eq!(
            reordered(query, data),
            r#"{"b":{"totalCount":2,"nodes":[{"name":"n","email":"x","id":1},{"name":"m","email":"y","id":2}]},"a":{"slug":"acme"}}"#
        );
    }

    #[test]
    fn a_named_operation_of_several_is_the_one_followed() {
        let query = "query One { x y } query Two { y x }";
        let document = parse_query(query).unwrap();
        let mut value = Value::from_json(json!({ "x": 1, "y": 2 })).unwrap();

        restore_order(&mut value, &document, Some("Two"));

        assert_eq!(value.into_json().unwrap().to_string(), r#"{"y":2,"x":1}"#);
    }
}
