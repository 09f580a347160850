//! Response values written as JSON text, for lists whose shape is known
//! before they are read (see `leads::render`).
//!
//! async-graphql builds a response as a tree of `Value`s: an `IndexMap`
//! per object, whose every key is hashed (SipHash) on insertion, and a
//! `String` per text, which serde then escapes byte by byte and the server
//! frees again. For a page of 50 leads that tree cost more than reading the
//! page. A value written here is JSON text from the start, and goes into the
//! response through async-graphql's `raw_value` feature: an object whose one
//! key is [`RAW_VALUE_TOKEN`] is serialized as the text it holds.
//!
//! Keys and the types of values are fixed by the writer's caller; texts are
//! escaped here exactly as serde_json escapes them.

use async_graphql::indexmap::IndexMap;
use async_graphql::{Name, Value};
use async_graphql_value::RAW_VALUE_TOKEN;

/// JSON text under construction.
#[derive(Default)]
pub struct JsonText {
    buf: Vec<u8>,
}

impl JsonText {
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Text that is already JSON (punctuation, or a key written by [`key`]).
    pub fn raw(&mut self, json: &str) {
        self.buf.extend_from_slice(json.as_bytes());
    }

    pub fn string(&mut self, text: &str) {
        // Most texts need no escape: copy them in one go. serde_json escapes
        // exactly these bytes (quote, backslash, control characters).
        if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
            serde_json::to_writer(&mut self.buf, text).expect("writing to memory");
        } else {
            self.buf.push(b'"');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.push(b'"');
        }
    }

    pub fn optional_string(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.string(text),
            None => self.raw("null"),
        }
    }

    pub fn integer(&mut self, number: i64) {
        serde_json::to_writer(&mut self.buf, &number).expect("writing to memory");
    }

    pub fn boolean(&mut self, value: bool) {
        self.raw(if value { "true" } else { "false" });
    }

    /// Any response value, serialized as the executor's response would be.
    pub fn value(&mut self, value: &Value) {
        serde_json::to_writer(&mut self.buf, value).expect("writing to memory");
    }

    /// Where the text ends now, to [`rewind`](Self::rewind) to.
    pub fn mark(&self) -> usize {
        self.buf.len()
    }

    /// Drops what was written after `mark` (a value that could not be
    /// finished).
    pub fn rewind(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }

    /// The text as a response value that serializes to it.
    pub fn into_value(self) -> Value {
        let text = String::from_utf8(self.buf).expect("only text and serde_json output is written");
        let mut object = IndexMap::with_capacity(1);
        object.insert(Name::new(RAW_VALUE_TOKEN), Value::String(text));
        Value::Object(object)
    }
}

/// `"name":`, a response key ready to be written with [`JsonText::raw`].
pub fn key(name: &str) -> String {
    let mut key = serde_json::to_string(name).expect("a string serializes");
    key.push(':');
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_escaped_as_serde_json_escapes_them() {
        for text in [
            "plain",
            "",
            "quote \" backslash \\ slash /",
            "tab\tnewline\nnul\u{0}bell\u{7}del\u{7f}",
            "accents é, emoji 🚀, line separator \u{2028}",
        ] {
            let mut json = JsonText::default();
            json.string(text);
            assert_eq!(
                String::from_utf8(json.buf).unwrap(),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_raw_value_serializes_as_its_text() {
        let mut json = JsonText::default();
        json.raw("{");
        json.raw(&key("name"));
        json.string("Ada \"the first\"");
        json.raw(",");
        json.raw(&key("score"));
        json.integer(-42);
        json.raw(",");
        json.raw(&key("missing"));
        json.optional_string(None);
        json.raw(",");
        json.raw(&key("vip"));
        json.boolean(true);
        json.raw("}");
        let response = async_graphql::Response::new(json.into_value());
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"data":{"name":"Ada \"the first\"","score":-42,"missing":null,"vip":true}}"#
        );
        // And as JSON, as tests read responses.
        assert_eq!(
            response.data.into_json().unwrap(),
            serde_json::json!({"name": "Ada \"the first\"", "score": -42, "missing": null, "vip": true})
        );
    }

    #[test]
    fn truncating_drops_an_unfinished_value() {
        let mut json = JsonText::default();
        json.raw("[");
        let start = json.mark();
        json.string("half");
        json.rewind(start);
        json.raw("]");
        assert_eq!(String::from_utf8(json.buf).unwrap(), "[]");
    }
}
