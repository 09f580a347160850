//! Document limits enforced by the transports (HTTP and WebSocket) before
//! execution: size before parsing, then aliases after. Depth and complexity
//! are async-graphql's own validation (configured in `graphql::build`).
//!
//! The transports parse once here and hand the parsed document to the
//! executor, so the limits cannot be bypassed and nothing is parsed twice.
//! Clients send the same few documents over and over (an SPA's queries, a
//! partner's sync), so parsed documents are kept by their text
//! ([`DocumentCache`]): a copy of the parsed document costs a fraction of
//! parsing it again (bench/README.md, "Costs behind the code").

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
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

    fn parse(&self, query: &str) -> Result<Arc<Parsed>, ServerError> {
        if let Some(parsed) = self.lock().get(query) {
            return Ok(parsed.clone());
        }
        let document = async_graphql::parser::parse_query(query).map_err(|e| {
            let mut error: ServerError = e.into();
            let mut extensions = async_graphql::ErrorExtensionValues::default();
            extensions.set("code", "GRAPHQL_PARSE_FAILED");
            error.extensions = Some(extensions);
            error
        })?;
        let parsed = Arc::new(Parsed {
            aliases: count_aliases(&document),
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

fn limit_error(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "LIMIT_EXCEEDED");
    error.extensions = Some(extensions);
    error
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
    let parsed = cache.parse(query)?;
    let aliases = parsed.aliases;
    if aliases > limits.aliases {
        return Err(limit_error(format!(
            "document uses {aliases} aliases; the limit is {}",
            limits.aliases
        )));
    }
    let document = parsed.document.clone();
    let selected = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
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
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + walk(&field.node.selection_set.node)
                }
                Selection::InlineFragment(fragment) => walk(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

/// A GraphQL error with a code and no position, for transport-level refusals.
pub fn request_error(message: impl Into<String>, code: &str) -> ServerError {
    let mut error = ServerError::new(message.into(), None::<Pos>);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
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
        let first = cache.parse(query).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.parse(query).unwrap()));

        // The cached document serves each operation it holds, as parsed.
        let mut limits = limits();
        let a = check_document(query, Some("A"), &limits, &cache).unwrap();
        assert_eq!(a.label, "query:me");
        let b = check_document(query, Some("B"), &limits, &cache).unwrap();
        assert_eq!(b.operation, Some(OperationType::Mutation));
        // Limits apply to a cached document too.
        limits.aliases = 0;
        assert!(check_document(query, Some("A"), &limits, &cache).is_err());

        // Least recently used out first; a document that fails to parse is
        // refused every time and never kept.
        cache.parse("{ me { role } }").unwrap();
        cache.parse("{ __typename }").unwrap();
        assert!(!Arc::ptr_eq(&first, &cache.parse(query).unwrap()));
        assert!(cache.parse("{ me { ").is_err());
        assert!(cache.lock().get("{ me { ").is_none());
        assert_eq!(cache.lock().len(), 2);
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
    }
}
