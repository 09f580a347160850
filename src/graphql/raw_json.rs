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
//!
//! serde_json parses every raw text again before it writes it (it cannot
//! know where the text came from; a JSON value stored by a user can have
//! that key too), which for a page of leads cost an eighth of the request.
//! The HTTP transport writes responses with [`response_json`] instead: a
//! raw text equal to one this request's resolvers wrote and registered
//! ([`WrittenTexts`]) is copied as it is, every other value is written as
//! serde_json writes it. Equal content is what is trusted, not an address,
//! so a user's value can only pass as raw if it is that very JSON.

use std::sync::{Arc, Mutex};

use async_graphql::indexmap::IndexMap;
use async_graphql::{Name, Response, Value};
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
        // exactly these bytes (quote, backslash, control characters). A fold
        // without an early exit compiles to vector instructions.
        let escapes = text.bytes().fold(false, |found, b| {
            found | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if escapes {
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

    /// The text as a response value that serializes to it.
    pub fn into_value(self) -> Value {
        self.into_registered_value(None)
    }

    /// The same, registered in `written` (when the transport keeps one) so
    /// that [`response_json`] copies it without parsing it again.
    pub fn into_registered_value(self, written: Option<&WrittenTexts>) -> Value {
        let text = String::from_utf8(self.buf).expect("only text and serde_json output is written");
        if let Some(written) = written {
            written.lock().push(Arc::from(text.as_str()));
        }
        let mut object = IndexMap::with_capacity(1);
        object.insert(Name::new(RAW_VALUE_TOKEN), Value::String(text));
        Value::Object(object)
    }

    /// Writes `value` as serde_json would, copying the raw texts `written`
    /// holds as they are.
    fn response_value(&mut self, value: &Value, written: &mut Registered<'_>) {
        match value {
            Value::String(text) => self.string(text),
            Value::Enum(name) => self.string(name),
            Value::List(items) => {
                self.raw("[");
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.raw(",");
                    }
                    self.response_value(item, written);
                }
                self.raw("]");
            }
            Value::Object(object) => match raw_text(value) {
                Some(text) if written.contains(text) => self.raw(text),
                // Someone else's raw text: serde_json checks it.
                Some(_) => self.value(value),
                None => {
                    self.raw("{");
                    for (index, (key, item)) in object.iter().enumerate() {
                        if index > 0 {
                            self.raw(",");
                        }
                        self.string(key);
                        self.raw(":");
                        self.response_value(item, written);
                    }
                    self.raw("}");
                }
            },
            Value::Null | Value::Number(_) | Value::Boolean(_) | Value::Binary(_) => {
                self.value(value);
            }
        }
    }
}

/// The text of a raw value (see the module documentation).
fn raw_text(value: &Value) -> Option<&str> {
    match value {
        Value::Object(object) if object.len() == 1 => match object.get(RAW_VALUE_TOKEN) {
            Some(Value::String(text)) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

/// The registered texts of one response, looked for from just after the
/// last one found: a response lists them in the order they were written,
/// so a page of nodes is one pass, not a search per node.
struct Registered<'a> {
    texts: &'a [Arc<str>],
    next: usize,
}

impl Registered<'_> {
    fn contains(&mut self, text: &str) -> bool {
        let count = self.texts.len();
        for offset in 0..count {
            let index = (self.next + offset) % count;
            if *self.texts[index] == *text {
                self.next = index + 1;
                return true;
            }
        }
        false
    }
}

/// The raw texts one request's resolvers wrote (request data, kept by the
/// HTTP transport).
#[derive(Default)]
pub struct WrittenTexts(Mutex<Vec<Arc<str>>>);

impl WrittenTexts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<str>>> {
        // A list of texts holds no invariant a panic could break.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `response` as JSON, byte for byte what `serde_json::to_vec` gives, with
/// the raw texts `written` holds copied rather than parsed again.
pub fn response_json(response: &Response, written: &WrittenTexts) -> Vec<u8> {
    let written = written.lock();
    // Room for the written texts and what surrounds them, so that a page is
    // not copied again each time the buffer would have grown.
    let texts: usize = written.iter().map(|text| text.len()).sum();
    let mut out = JsonText::with_capacity(texts + 1024);
    out.raw("{\"data\":");
    let mut registered = Registered {
        texts: &written,
        next: 0,
    };
    out.response_value(&response.data, &mut registered);
    if !response.extensions.is_empty() {
        out.raw(",\"extensions\":");
        serde_json::to_writer(&mut out.buf, &response.extensions).expect("writing to memory");
    }
    if !response.errors.is_empty() {
        out.raw(",\"errors\":");
        serde_json::to_writer(&mut out.buf, &response.errors).expect("writing to memory");
    }
    out.raw("}");
    out.buf
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
    fn responses_are_written_as_serde_json_writes_them() {
        let mut ours = JsonText::default();
        ours.raw(r#"{"id":"1","tags":["a","b"]}"#);
        let ours = ours.into_registered_value(None);
        let written = WrittenTexts::default();
        written.lock().push(Arc::from(raw_text(&ours).unwrap()));
        // A user's JSON value that looks raw: never registered, so serde_json
        // checks it (and writes an object when it is not JSON).
        let mut theirs = IndexMap::new();
        theirs.insert(
            Name::new(RAW_VALUE_TOKEN),
            Value::String("not json {".into()),
        );
        let data = async_graphql::value!({
            "text": "quote \" backslash \\ tab \t é 🚀",
            "int": -7,
            "float": 1.5,
            "big": 18446744073709551615u64,
            "yes": true,
            "nothing": null,
            "status": "X",
            "list": [1, "two", [3], {}],
            "empty": [],
            "nested": { "deeper": { "key with \"quote\"": 1 } },
        });
        let Value::Object(mut data) = data else {
            unreachable!()
        };
        data.insert(Name::new("status"), Value::Enum(Name::new("ACTIVE")));
        data.insert(Name::new("ours"), ours);
        data.insert(Name::new("theirs"), Value::Object(theirs));
        data.insert(Name::new("bytes"), Value::Binary(vec![1u8, 2].into()));
        let mut response = Response::new(Value::Object(data));
        response.errors.push(async_graphql::ServerError::new(
            "broken",
            Some(async_graphql::Pos { line: 1, column: 2 }),
        ));
        response
            .extensions
            .insert("trace".into(), async_graphql::value!({ "ms": 3 }));
        let expected = serde_json::to_string(&response).unwrap();
        assert!(expected.contains(r#""ours":{"id":"1","tags":["a","b"]}"#));
        assert!(expected.contains("not json {"));
        assert_eq!(
            String::from_utf8(response_json(&response, &written)).unwrap(),
            expected
        );
        // With nothing registered the same bytes come out (serde_json checks
        // every raw text).
        assert_eq!(
            String::from_utf8(response_json(&response, &WrittenTexts::default())).unwrap(),
            expected
        );
        // A registered text is copied as it is, unparsed: only texts the
        // resolvers wrote may be registered.
        written.lock().push(Arc::from("not json {"));
        assert!(
            String::from_utf8(response_json(&response, &written))
                .unwrap()
                .contains(r#""theirs":not json {"#)
        );
    }

    #[test]
    fn registered_texts_are_found_in_any_order() {
        let raw = |text: &str| {
            let mut json = JsonText::default();
            json.raw(text);
            json.into_value()
        };
        let written = WrittenTexts::default();
        // Registered texts are copied unparsed, so these show which were
        // found.
        for text in ["<a>", "<b>", "<c>"] {
            written.lock().push(Arc::from(text));
        }
        let data = Value::List(["<c>", "<a>", "<b>", "<d>", "<b>"].map(raw).to_vec());
        let text = String::from_utf8(response_json(&Response::new(data), &written)).unwrap();
        // `<d>` was not registered: serde_json refuses it as raw JSON and
        // writes the object.
        assert_eq!(
            text,
            format!(r#"{{"data":[<c>,<a>,<b>,{{"{RAW_VALUE_TOKEN}":"<d>"}},<b>]}}"#)
        );
    }
}
