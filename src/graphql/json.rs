//! The `JSON` scalar: any JSON value, stored and given back exactly as the
//! client sent it.
//!
//! serde_json's `raw_value` feature (which axum and sqlx turn on, so it is
//! on in every build) gives one object key a meaning: deserializing an
//! object whose first key is `$serde_json::private::RawValue` into a
//! `serde_json::Value` replaces the object by the JSON text it holds. That
//! happens wherever a value is read into a `serde_json::Value`, reading a
//! `jsonb` column included. So user JSON never goes through that
//! deserializer here: requests are parsed into GraphQL values (which give no
//! key a meaning), this scalar converts them by structure, and keys in
//! serde_json's private namespace are stored with one more leading `$` and
//! given back without it. The escape is a bijection on keys, so every JSON
//! value round-trips.

use async_graphql::{InputValueError, InputValueResult, Name, Scalar, ScalarType, Value};
use serde_json::{Map, Number};

/// serde_json's private key namespace (`$serde_json::private::RawValue`,
/// `$serde_json::private::Number`).
const PRIVATE: &str = "serde_json::private::";

/// Any JSON value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Json<T>(pub T);

/// Any JSON value, given back exactly as it was sent.
#[Scalar(name = "JSON")]
impl ScalarType for Json<serde_json::Value> {
    fn parse(value: Value) -> InputValueResult<Self> {
        from_graphql(value)
            .map(Json)
            .map_err(InputValueError::custom)
    }

    fn to_value(&self) -> Value {
        to_graphql(&self.0)
    }
}

impl Json<serde_json::Value> {
    /// The value as an object; `field` names the input in the error.
    pub fn into_object(
        self,
        field: &str,
    ) -> crate::error::AppResult<Map<String, serde_json::Value>> {
        match self.0 {
            serde_json::Value::Object(map) => Ok(map),
            _ => Err(crate::error::AppError::invalid(
                field,
                "must be a JSON object",
            )),
        }
    }
}

/// A GraphQL input value as the JSON to store (private keys escaped).
pub fn from_graphql(value: Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => serde_json::Value::Bool(b),
        Value::Number(n) => serde_json::Value::Number(n),
        Value::String(s) => serde_json::Value::String(s),
        Value::Enum(name) => serde_json::Value::String(name.to_string()),
        Value::Binary(_) => return Err("binary data is not JSON".to_owned()),
        Value::List(items) => serde_json::Value::Array(
            items
                .into_iter()
                .map(from_graphql)
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => {
            let mut map = Map::with_capacity(fields.len());
            for (key, value) in fields {
                map.insert(escape(key.as_str()), from_graphql(value)?);
            }
            serde_json::Value::Object(map)
        }
    })
}

/// Stored JSON as the GraphQL value to answer (private keys unescaped).
pub fn to_graphql(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(Number::clone(n)),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::List(items.iter().map(to_graphql).collect()),
        serde_json::Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (Name::new(unescape(key)), to_graphql(value)))
                .collect(),
        ),
    }
}

/// How many `$` a key starts with, when what follows is serde_json's
/// private namespace.
fn private_dollars(key: &str) -> Option<usize> {
    let dollars = key.len() - key.trim_start_matches('$').len();
    (dollars > 0 && key[dollars..].starts_with(PRIVATE)).then_some(dollars)
}

fn escape(key: &str) -> String {
    match private_dollars(key) {
        Some(_) => format!("${key}"),
        None => key.to_owned(),
    }
}

fn unescape(key: &str) -> &str {
    match private_dollars(key) {
        Some(dollars) if dollars >= 2 => &key[1..],
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_escape_and_unescape_one_to_one() {
        for key in [
            "$serde_json::private::RawValue",
            "$$serde_json::private::RawValue",
            "$$$serde_json::private::Number",
            "serde_json::private::RawValue",
            "$other",
            "",
            "$",
        ] {
            assert_eq!(unescape(&escape(key)), key, "{key}");
            // What is stored never has the one-`$` form serde_json reads.
            assert_ne!(escape(key), "$serde_json::private::RawValue");
        }
    }

    #[test]
    fn stored_json_reads_back_as_it_was_sent() {
        let sent = serde_json::json!({
            "$serde_json::private::RawValue": "[1,2]",
            "list": [{ "$serde_json::private::Number": "1" }, 1.5, null, true],
        });
        let stored = from_graphql(Value::from_json(sent.clone()).unwrap()).unwrap();
        // The stored text goes through serde_json's own deserializer, as a
        // database read does.
        let read: serde_json::Value = serde_json::from_str(&stored.to_string()).unwrap();
        assert_eq!(to_graphql(&read).into_json().unwrap(), sent);
    }
}
