//! Document limits enforced by the transports (HTTP and WebSocket) before
//! execution, cheapest first:
//! 1. size, then a lexical scan (tokens, bracket nesting) before parsing:
//!    the parser recurses once per nesting level, so a 4 KB document of
//!    `[[[[…` would otherwise overflow the stack and end the process;
//! 2. after parsing, counts over the document: aliases, directives, and the
//!    fields it selects with every fragment spread expanded (a fragment that
//!    spreads the previous one twice per level selects 2^n fields from a
//!    1 KB document, and `__typename` costs nothing in complexity);
//! 3. the depth of the schema's own fields (introspection's nesting does
//!    not count: GraphiQL's and codegen's introspection query is 15 deep);
//! 4. complexity is async-graphql's own validation (configured in
//!    `graphql::schema`); [`classify`] gives its errors their codes.
//!
//! The transports parse once here and hand the parsed document to the
//! executor, so the limits cannot be bypassed and nothing is parsed twice.
//! Clients send the same few documents over and over (an SPA's queries, a
//! partner's sync), so parsed documents are kept by their text
//! ([`DocumentCache`]): a copy of the parsed document costs a fraction of
//! parsing it again (bench/README.md, "Costs behind the code").

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};
use async_graphql::{Pos, ServerError};
use lru::LruCache;

use crate::config::Limits;

/// How many parsed documents are kept. Each text is at most
/// `Limits::document_bytes` (16 KiB by default), so this bounds the cache at
/// a few MiB however many different documents clients send.
const CACHED_DOCUMENTS: usize = 256;

/// A document parsed once, with what the limits need to know about it.
struct Parsed {
    document: ExecutableDocument,
    aliases: usize,
    directives: usize,
    /// Fields selected with every fragment spread expanded (saturating).
    selections: usize,
    /// How deep the schema's fields nest (see [`Expanded`]).
    depth: usize,
}

/// Parsed documents by their exact text, least recently used out first.
/// Documents that fail to parse are not kept.
pub struct DocumentCache {
    parsed: Mutex<LruCache<String, Arc<Parsed>>>,
}

impl Default for DocumentCache {
    fn default() -> Self {
        Self::with_capacity(CACHED_DOCUMENTS)
    }
}

impl DocumentCache {
    fn with_capacity(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            parsed: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// Parses `query` unless it is cached; a document not yet seen is
    /// scanned first (`limits`), and one whose fragments spread themselves
    /// is refused.
    fn parse(&self, query: &str, limits: &Limits) -> Result<Arc<Parsed>, ServerError> {
        if let Some(parsed) = self.lock().get(query) {
            return Ok(parsed.clone());
        }
        scan(query, limits)?;
        let document = async_graphql::parser::parse_query(query)
            .map_err(|e| with_code(e.into(), "GRAPHQL_PARSE_FAILED"))?;
        let expanded = expand(&document)?;
        let parsed = Arc::new(Parsed {
            aliases: count_aliases(&document),
            directives: count_directives(&document),
            selections: expanded.fields,
            depth: expanded.depth,
            document,
        });
        self.lock().put(query.to_owned(), parsed.clone());
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<Parsed>>> {
        // The cache holds no invariant a panic could break mid-way.
        self.parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A document that passed the limits.
pub struct CheckedDocument {
    pub document: ExecutableDocument,
    /// The operation that will run, when the document names it unambiguously.
    pub operation: Option<OperationType>,
    /// `query:me`, `mutation:login`…: a bounded label for metrics.
    pub label: String,
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let mut extensions = error.extensions.take().unwrap_or_default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

fn limit_error(message: String) -> ServerError {
    with_code(ServerError::new(message, None), "LIMIT_EXCEEDED")
}

/// Reads a document as GraphQL's lexer would, without building anything,
/// and stops at the first limit crossed: bracket nesting (`{ [ (`), which
/// bounds the parser's recursion, and the token count. Anything it cannot
/// make sense of counts as a token and is left to the parser to refuse.
fn scan(query: &str, limits: &Limits) -> Result<(), ServerError> {
    let bytes = query.as_bytes();
    let at = |i: usize, pattern: &[u8]| bytes[i..].starts_with(pattern);
    let is_name_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let is_number = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
    let (mut i, mut depth, mut tokens) = (0, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            // Ignored tokens: white space, line terminators, commas, the BOM.
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if at(i, &[0xEF, 0xBB, 0xBF]) => i += 3,
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            b'"' if at(i, b"\"\"\"") => {
                tokens += 1;
                i += 3;
                while i < bytes.len() && !at(i, b"\"\"\"") {
                    i += if at(i, b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
            }
            b'"' => {
                tokens += 1;
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' | b'[' | b'(' => {
                tokens += 1;
                depth += 1;
                if depth > limits.nesting {
                    return Err(limit_error(format!(
                        "document nests brackets deeper than {} levels, the limit",
                        limits.nesting
                    )));
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                tokens += 1;
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'.' if at(i, b"...") => {
                tokens += 1;
                i += 3;
            }
            b if is_name_start(b) => {
                tokens += 1;
                while i < bytes.len() && is_name(bytes[i]) {
                    i += 1;
                }
            }
            b if b.is_ascii_digit() || b == b'-' => {
                tokens += 1;
                i += 1;
                while i < bytes.len() && is_number(bytes[i]) {
                    i += 1;
                }
            }
            _ => {
                tokens += 1;
                i += 1;
            }
        }
        if tokens > limits.tokens {
            return Err(limit_error(format!(
                "document has more than {} tokens, the limit",
                limits.tokens
            )));
        }
    }
    Ok(())
}

/// Checks the document size, parses (or takes the parsed document from
/// `cache`), and counts aliases.
pub fn check_document(
    query: &str,
    operation_name: Option<&str>,
    limits: &Limits,
    cache: &DocumentCache,
) -> Result<CheckedDocument, ServerError> {
    if query.len() > limits.document_bytes {
        return Err(limit_error(format!(
            "document is {} bytes; the limit is {}",
            query.len(),
            limits.document_bytes
        )));
    }
    let parsed = cache.parse(query, limits)?;
    let counts = [
        ("aliases", parsed.aliases, limits.aliases),
        ("directives", parsed.directives, limits.directives),
        (
            "fields once fragments are expanded",
            parsed.selections,
            limits.selections,
        ),
    ];
    for (what, count, limit) in counts {
        if count > limit {
            let count = if count == usize::MAX {
                format!("more than {limit}")
            } else {
                count.to_string()
            };
            return Err(limit_error(format!(
                "document uses {count} {what}; the limit is {limit}"
            )));
        }
    }
    if parsed.depth > limits.depth {
        return Err(limit_error(format!(
            "document nests fields {} deep; the limit is {} (introspection's own \
             nesting is not counted)",
            parsed.depth, limits.depth
        )));
    }
    let document = parsed.document.clone();
    let selected = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        // One named operation runs without `operationName` (GraphQL's
        // GetOperation), as GraphiQL's introspection query does.
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    let operation = selected.map(|op| op.node.ty);
    let label = selected
        .map(|op| {
            let kind = match op.node.ty {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            let root = first_field(&op.node.selection_set.node).unwrap_or("_");
            format!("{kind}:{root}")
        })
        .unwrap_or_else(|| "unknown".to_owned());
    Ok(CheckedDocument {
        document,
        operation,
        label,
    })
}

fn first_field(set: &SelectionSet) -> Option<&str> {
    set.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) => Some(field.node.name.node.as_str()),
        _ => None,
    })
}

fn count_aliases(document: &ExecutableDocument) -> usize {
    sum_written(document, |selection| match selection {
        Selection::Field(field) => usize::from(field.node.alias.is_some()),
        _ => 0,
    })
}

/// Sums `measure` over every selection written in the document: in its
/// operations and its fragment definitions, each once (not expanded).
fn sum_written(document: &ExecutableDocument, measure: impl Fn(&Selection) -> usize) -> usize {
    fn walk(set: &SelectionSet, measure: &dyn Fn(&Selection) -> usize) -> usize {
        set.items
            .iter()
            .map(|item| {
                measure(&item.node)
                    + match &item.node {
                        Selection::Field(field) => walk(&field.node.selection_set.node, measure),
                        Selection::InlineFragment(fragment) => {
                            walk(&fragment.node.selection_set.node, measure)
                        }
                        Selection::FragmentSpread(_) => 0,
                    }
            })
            .sum()
    }
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node, &measure))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node, &measure))
        .sum();
    operations + fragments
}

/// What a document's operations select once every fragment spread is
/// expanded.
#[derive(Clone, Copy, Default)]
struct Expanded {
    /// Fields selected (saturating).
    fields: usize,
    /// How deep the schema's fields nest: a root field is 1, as
    /// async-graphql counts. An introspection root (`__schema`, `__type`)
    /// counts 1 whatever it selects: its types' nesting (`ofType { ofType
    /// … }`) is the schema's shape, resolved from memory, and the standard
    /// introspection query that GraphiQL, codegen and graphql-inspector send
    /// is 15 deep. Its fields still count, and the nesting scan bounds it.
    depth: usize,
}

impl Expanded {
    /// Siblings: their fields add up, the deepest sets the depth.
    fn beside(self, other: Expanded) -> Expanded {
        Expanded {
            fields: self.fields.saturating_add(other.fields),
            depth: self.depth.max(other.depth),
        }
    }
}

/// Expands the document's operations, each fragment spread counted as
/// everything its fragment selects (memoised per fragment, so the walk
/// itself is linear). A fragment that spreads itself, directly or not, is
/// refused here: the executor's own checks would walk such a cycle
/// exponentially before validation names it.
fn expand(document: &ExecutableDocument) -> Result<Expanded, ServerError> {
    struct Walk<'a> {
        document: &'a ExecutableDocument,
        expanded: HashMap<&'a str, Expanded>,
        visiting: Vec<&'a str>,
    }
    impl<'a> Walk<'a> {
        fn set(&mut self, set: &'a SelectionSet) -> Result<Expanded, ServerError> {
            let mut total = Expanded::default();
            for item in &set.items {
                let expanded = match &item.node {
                    Selection::Field(field) => {
                        let below = self.set(&field.node.selection_set.node)?;
                        let introspection =
                            matches!(field.node.name.node.as_str(), "__schema" | "__type");
                        Expanded {
                            fields: below.fields.saturating_add(1),
                            depth: if introspection { 1 } else { below.depth + 1 },
                        }
                    }
                    Selection::InlineFragment(fragment) => {
                        self.set(&fragment.node.selection_set.node)?
                    }
                    Selection::FragmentSpread(spread) => {
                        self.fragment(&spread.node.fragment_name)?
                    }
                };
                total = total.beside(expanded);
            }
            Ok(total)
        }

        fn fragment(&mut self, name: &'a Positioned<Name>) -> Result<Expanded, ServerError> {
            let key = name.node.as_str();
            if let Some(expanded) = self.expanded.get(key) {
                return Ok(*expanded);
            }
            if self.visiting.contains(&key) {
                return Err(with_code(
                    ServerError::new(format!("fragment {key} spreads itself"), Some(name.pos)),
                    "GRAPHQL_VALIDATION_FAILED",
                ));
            }
            // An unknown fragment selects nothing here; validation names it.
            let Some(fragment) = self.document.fragments.get(&name.node) else {
                return Ok(Expanded::default());
            };
            self.visiting.push(key);
            let expanded = self.set(&fragment.node.selection_set.node)?;
            self.visiting.pop();
            self.expanded.insert(key, expanded);
            Ok(expanded)
        }
    }
    let mut walk = Walk {
        document,
        expanded: HashMap::new(),
        visiting: Vec::new(),
    };
    let mut total = Expanded::default();
    for (_, operation) in document.operations.iter() {
        total = total.beside(walk.set(&operation.node.selection_set.node)?);
    }
    // Fragments no operation uses are refused by validation; they are
    // checked for cycles all the same.
    for fragment in document.fragments.values() {
        walk.set(&fragment.node.selection_set.node)?;
    }
    Ok(total)
}

/// Every directive written in the document, wherever it stands.
fn count_directives(document: &ExecutableDocument) -> usize {
    let on_selections = sum_written(document, |selection| selection.directives().len());
    let on_operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| {
            let variables: usize = op
                .node
                .variable_definitions
                .iter()
                .map(|v| v.node.directives.len())
                .sum();
            op.node.directives.len() + variables
        })
        .sum();
    let on_fragments: usize = document
        .fragments
        .values()
        .map(|f| f.node.directives.len())
        .sum();
    on_selections + on_operations + on_fragments
}

/// async-graphql's own request errors (its depth, complexity, recursion and
/// directive limits, and validation) carry no code: give each the one the
/// README documents. An error that already has a code keeps it.
pub(crate) fn classify(errors: &mut [ServerError]) {
    const LIMITS: [&str; 4] = [
        "Query is too complex.",
        "Query is nested too deep.",
        "The recursion depth of the query cannot be greater than",
        "The number of directives on the field",
    ];
    for error in errors.iter_mut() {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if has_code {
            continue;
        }
        let code = if LIMITS.iter().any(|m| error.message.starts_with(m)) {
            "LIMIT_EXCEEDED"
        } else if error.path.is_empty() {
            "GRAPHQL_VALIDATION_FAILED"
        } else {
            // A field's input the executor could not coerce.
            "BAD_USER_INPUT"
        };
        *error = with_code(std::mem::replace(error, ServerError::new("", None)), code);
    }
}

/// A GraphQL error with a code and no position, for transport-level refusals.
pub fn request_error(message: impl Into<String>, code: &str) -> ServerError {
    with_code(ServerError::new(message.into(), None::<Pos>), code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        crate::config::Config::for_database("sqlite::memory:").limits
    }

    #[test]
    fn counts_aliases_in_operations_and_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query { a: me { b: role } ...F } fragment F on Query { c: me { role } }",
        )
        .unwrap();
        assert_eq!(count_aliases(&doc), 3);
    }

    #[test]
    fn refuses_too_many_aliases_and_oversized_documents() {
        let mut limits = limits();
        limits.aliases = 2;
        let query = "{ a: me { role } b: me { role } c: me { role } }";
        assert!(check_document(query, None, &limits, &DocumentCache::default()).is_err());
        limits.aliases = 3;
        assert!(check_document(query, None, &limits, &DocumentCache::default()).is_ok());
        limits.document_bytes = 10;
        assert!(check_document(query, None, &limits, &DocumentCache::default()).is_err());
    }

    #[test]
    fn a_document_is_parsed_once_and_still_checked_on_every_use() {
        let cache = DocumentCache::with_capacity(2);
        let query = "query A { a: me { role } } mutation B { logout }";
        let mut limits = limits();
        let first = cache.parse(query, &limits).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.parse(query, &limits).unwrap()));

        // The cached document serves each operation it holds, as parsed.
        let a = check_document(query, Some("A"), &limits, &cache).unwrap();
        assert_eq!(a.label, "query:me");
        let b = check_document(query, Some("B"), &limits, &cache).unwrap();
        assert_eq!(b.operation, Some(OperationType::Mutation));
        // Limits apply to a cached document too.
        limits.aliases = 0;
        assert!(check_document(query, Some("A"), &limits, &cache).is_err());

        // Least recently used out first; a document that fails to parse is
        // refused every time and never kept.
        limits.aliases = 30;
        cache.parse("{ me { role } }", &limits).unwrap();
        cache.parse("{ __typename }", &limits).unwrap();
        assert!(!Arc::ptr_eq(&first, &cache.parse(query, &limits).unwrap()));
        assert!(cache.parse("{ me { ", &limits).is_err());
        assert!(cache.lock().get("{ me { ").is_none());
        assert_eq!(cache.lock().len(), 2);
    }

    fn code(error: &ServerError) -> String {
        crate::error::code_of(error)
    }

    #[test]
    fn depth_counts_the_schemas_fields_through_fragments_but_not_introspection() {
        let mut limits = limits();
        limits.depth = 3;
        let cache = DocumentCache::default();
        let depth_of = |query: &str| {
            expand(&async_graphql::parser::parse_query(query).unwrap())
                .unwrap()
                .depth
        };

        assert_eq!(depth_of("{ a { b { c } } }"), 3);
        assert_eq!(
            depth_of("{ a { ...F } } fragment F on A { b { c { d } } ... on A { e } }"),
            4
        );
        assert_eq!(
            depth_of("{ __schema { types { fields { type { ofType { name } } } } } }"),
            1
        );
        let introspection = include_str!("../../tests/fixtures/introspection.graphql");
        assert!(check_document(introspection, None, &limits, &cache).is_ok());
        let error = check_document(
            "{ a { ...F } } fragment F on A { b { c { d } } }",
            None,
            &limits,
            &cache,
        )
        .err()
        .unwrap();
        assert_eq!(code(&error), "LIMIT_EXCEEDED");
        assert!(error.message.contains("4 deep"), "{}", error.message);
    }

    #[test]
    fn nesting_is_refused_before_the_parser_recurses() {
        let limits = limits();
        let cache = DocumentCache::default();
        // 5,000 levels would overflow the parser's stack.
        let deep = format!(
            "{{ __typename @skip(if: {}true{}) }}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let error = check_document(&deep, None, &limits, &cache).err().unwrap();
        assert_eq!(code(&error), "LIMIT_EXCEEDED");
        assert!(error.message.contains("nest"), "{}", error.message);
        let objects = format!(
            "{{ leads(search: {}1{}) {{ totalCount }} }}",
            "{a:".repeat(3000),
            "}".repeat(3000)
        );
        assert!(check_document(&objects, None, &limits, &cache).is_err());

        // Brackets inside strings and comments are not nesting.
        let quoted = format!("{{ __typename @skip(if: false) }} # {}\n", "[".repeat(500));
        assert!(check_document(&quoted, None, &limits, &cache).is_ok());
        let in_string = format!(
            "{{ leads(search: \"{}\") {{ totalCount }} }}",
            "{[(".repeat(200)
        );
        assert!(check_document(&in_string, None, &limits, &cache).is_ok());
    }

    #[test]
    fn token_count_is_limited_before_parsing() {
        let mut limits = limits();
        limits.tokens = 11;
        let cache = DocumentCache::default();
        // `{ me { role } }` is 6 tokens; a string counts once, however long.
        assert!(check_document("{ me { role } }", None, &limits, &cache).is_ok());
        let long = "{ a: __typename b: __typename c: __typename d: __typename }";
        let error = check_document(long, None, &limits, &cache).err().unwrap();
        assert_eq!(code(&error), "LIMIT_EXCEEDED");
        assert!(error.message.contains("tokens"));
        let strings = r#"{ leads(search: "a b c d e f g h") { totalCount } }"#;
        assert!(check_document(strings, None, &limits, &cache).is_ok());
    }

    #[test]
    fn fragment_spreads_count_every_field_they_expand_to() {
        let limits = limits();
        let cache = DocumentCache::default();
        // Each level spreads the previous one twice: 2^levels fields.
        let bomb = |levels: usize| {
            let mut doc = String::from("query { ...F0 } fragment F0 on QueryRoot { __typename }");
            for level in 1..=levels {
                doc.push_str(&format!(
                    " fragment F{level} on QueryRoot {{ ...F{p} ...F{p} }}",
                    p = level - 1
                ));
            }
            doc.replace("query { ...F0 }", &format!("query {{ ...F{levels} }}"))
        };
        assert!(check_document(&bomb(10), None, &limits, &cache).is_ok());
        let error = check_document(&bomb(11), None, &limits, &cache)
            .err()
            .unwrap();
        assert_eq!(code(&error), "LIMIT_EXCEEDED");
        assert!(error.message.contains("2048 fields"), "{}", error.message);
        // 100 levels: the count saturates instead of overflowing.
        let error = check_document(&bomb(100), None, &limits, &cache)
            .err()
            .unwrap();
        assert!(
            error.message.contains("more than 2000 fields"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_fragment_that_spreads_itself_is_refused_at_once() {
        let cycle = "query { ...A } fragment A on QueryRoot { ...B ...B } fragment B on QueryRoot { ...A ...A }";
        let error = check_document(cycle, None, &limits(), &DocumentCache::default())
            .err()
            .unwrap();
        assert_eq!(code(&error), "GRAPHQL_VALIDATION_FAILED");
        assert!(error.message.contains("spreads itself"));
    }

    #[test]
    fn directives_are_counted_everywhere() {
        let mut limits = limits();
        limits.directives = 3;
        let cache = DocumentCache::default();
        let three = "query Q @traced { me @skip(if: false) { role @include(if: true) } }";
        assert!(check_document(three, None, &limits, &cache).is_ok());
        let four = "query { me @skip(if: false) { role @include(if: true) ...F @skip(if: false) } } fragment F on Me { tenant @skip(if: false) { id } }";
        let error = check_document(four, None, &limits, &cache).err().unwrap();
        assert_eq!(code(&error), "LIMIT_EXCEEDED");
        assert!(error.message.contains("4 directives"));
    }

    #[test]
    fn request_errors_without_a_code_get_one() {
        let mut errors = vec![
            ServerError::new("Query is too complex.", None),
            ServerError::new("Query is nested too deep.", None),
            ServerError::new(
                "The recursion depth of the query cannot be greater than `32`",
                None,
            ),
            ServerError::new("Unknown field \"nope\" on type \"QueryRoot\".", None),
            request_error("kept", "UNAUTHENTICATED"),
        ];
        classify(&mut errors);
        let codes: Vec<String> = errors.iter().map(code).collect();
        assert_eq!(
            codes,
            [
                "LIMIT_EXCEEDED",
                "LIMIT_EXCEEDED",
                "LIMIT_EXCEEDED",
                "GRAPHQL_VALIDATION_FAILED",
                "UNAUTHENTICATED"
            ]
        );
        assert_eq!(errors[0].message, "Query is too complex.");
    }

    #[test]
    fn labels_the_selected_operation() {
        let checked = check_document(
            "query A { me { role } } mutation B { logout }",
            Some("B"),
            &limits(),
            &DocumentCache::default(),
        )
        .unwrap();
        assert_eq!(checked.operation, Some(OperationType::Mutation));
        assert_eq!(checked.label, "mutation:logout");

        // A document's only operation is selected without a name; of two,
        // none is.
        let only = |query: &str| {
            check_document(query, None, &limits(), &DocumentCache::default())
                .unwrap()
                .label
        };
        assert_eq!(only("query A { me { role } }"), "query:me");
        assert_eq!(
            only("query A { me { role } } mutation B { logout }"),
            "unknown"
        );
    }
}
