//! A connection of leads (`leads`, `company.leads`), written whole as JSON
//! when its selection allows.
//!
//! Its nodes already write themselves (`leads::render`), but the executor
//! still resolved every edge as an object of its own, a future per field,
//! and merged the results into maps. When the connection selects only
//! `edges { node cursor }`, `pageInfo` and `__typename`, all of it is
//! written here, from the page in memory. Anything else (`totalCount`,
//! which counts in the database, arguments, directives, fragments, a
//! repeated key, or a node its plan cannot write) goes to the executor for
//! the whole connection, as before.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::connection::{CursorType, Edge, EmptyFields, PageInfo};
use async_graphql::parser::types::{Field, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};

use super::render::{LeadNode, NodePlan, leaf, plan_keys, write_object};
use crate::graphql::pagination::{Cursor, RelayConnection};
use crate::graphql::raw_json::{JsonText, WrittenTexts};

/// A page of leads: the GraphQL type `LeadConnection`.
pub struct LeadConnection(RelayConnection<LeadNode>);

impl From<RelayConnection<LeadNode>> for LeadConnection {
    fn from(connection: RelayConnection<LeadNode>) -> Self {
        Self(connection)
    }
}

type LeadEdge = Edge<Cursor, LeadNode, EmptyFields>;

/// What a key of the connection holds.
enum Part {
    Typename(String),
    Edges(Vec<(String, EdgePart)>),
    PageInfo(Vec<(String, PageInfoPart)>),
}

enum EdgePart {
    Typename(String),
    Cursor,
    Node(NodePlan),
}

enum PageInfoPart {
    Typename(String),
    HasNextPage,
    HasPreviousPage,
    StartCursor,
    EndCursor,
}

/// How to write a connection for one selection set.
struct ConnectionPlan {
    keys: Vec<(String, Part)>,
}

impl ConnectionPlan {
    fn of(selection: &SelectionSet) -> Option<Self> {
        let keys = plan_keys(selection, |field| {
            let nested = &field.selection_set.node;
            Some(match field.name.node.as_str() {
                "__typename" => {
                    leaf(field).map(|()| Part::Typename(LeadConnection::type_name().into()))?
                }
                "edges" => Part::Edges(plan_keys(nested, |field| {
                    Some(match field.name.node.as_str() {
                        "__typename" => leaf(field)
                            .map(|()| EdgePart::Typename(LeadEdge::type_name().into()))?,
                        "cursor" => leaf(field).map(|()| EdgePart::Cursor)?,
                        "node" => EdgePart::Node(NodePlan::of(&field.selection_set.node)?),
                        _ => return None,
                    })
                })?),
                "pageInfo" => Part::PageInfo(plan_keys(nested, |field| {
                    leaf(field)?;
                    Some(match field.name.node.as_str() {
                        "__typename" => PageInfoPart::Typename(PageInfo::type_name().into()),
                        "hasNextPage" => PageInfoPart::HasNextPage,
                        "hasPreviousPage" => PageInfoPart::HasPreviousPage,
                        "startCursor" => PageInfoPart::StartCursor,
                        "endCursor" => PageInfoPart::EndCursor,
                        _ => return None,
                    })
                })?),
                _ => return None,
            })
        })?;
        Some(Self { keys })
    }

    /// Writes the connection; `None` (having written part of it) when a
    /// node cannot be written from its row.
    fn write(&self, page: &RelayConnection<LeadNode>, out: &mut JsonText) -> Option<()> {
        write_object(out, &self.keys, |part, out| {
            match part {
                Part::Typename(name) => out.string(name),
                Part::Edges(keys) => {
                    out.raw("[");
                    for (index, edge) in page.edges.iter().enumerate() {
                        if index > 0 {
                            out.raw(",");
                        }
                        write_edge(keys, edge, out)?;
                    }
                    out.raw("]");
                }
                Part::PageInfo(keys) => write_page_info(keys, page, out),
            }
            Some(())
        })
    }
}

fn write_edge(keys: &[(String, EdgePart)], edge: &LeadEdge, out: &mut JsonText) -> Option<()> {
    write_object(out, keys, |part, out| {
        match part {
            EdgePart::Typename(name) => out.string(name),
            EdgePart::Cursor => out.string(&edge.cursor.encode_cursor()),
            EdgePart::Node(plan) => plan.write(edge.node.lead(), out)?,
        }
        Some(())
    })
}

fn write_page_info(
    keys: &[(String, PageInfoPart)],
    page: &RelayConnection<LeadNode>,
    out: &mut JsonText,
) {
    let cursor = |edge: Option<&LeadEdge>| edge.map(|edge| edge.cursor.encode_cursor());
    write_object(out, keys, |part, out| {
        match part {
            PageInfoPart::Typename(name) => out.string(name),
            PageInfoPart::HasNextPage => out.boolean(page.has_next_page),
            PageInfoPart::HasPreviousPage => out.boolean(page.has_previous_page),
            PageInfoPart::StartCursor => out.optional_string(cursor(page.edges.first()).as_deref()),
            PageInfoPart::EndCursor => out.optional_string(cursor(page.edges.last()).as_deref()),
        }
        Some(())
    });
}

impl OutputType for LeadConnection {
    fn type_name() -> Cow<'static, str> {
        RelayConnection::<LeadNode>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        RelayConnection::<LeadNode>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        if let Some(plan) = ConnectionPlan::of(&ctx.item.node) {
            // About 300 bytes a lead for a list's usual selection.
            let mut out = JsonText::with_capacity(256 + 320 * self.0.edges.len());
            if plan.write(&self.0, &mut out).is_some() {
                let written = ctx.data_opt::<Arc<WrittenTexts>>();
                return Ok(out.into_registered_value(written.map(|texts| &**texts)));
            }
        }
        self.0.resolve(ctx, field).await
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::{DocumentOperations, Selection};

    use super::*;

    /// The plan for `selection` under `leads`.
    fn plan(selection: &str) -> Option<ConnectionPlan> {
        let document = parse_query(format!("{{ leads {{ {selection} }} }}")).expect("parses");
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation");
        };
        let Selection::Field(leads) = &operation.node.selection_set.node.items[0].node else {
            panic!("a field");
        };
        ConnectionPlan::of(&leads.node.selection_set.node)
    }

    #[test]
    fn plans_edges_cursors_nodes_and_page_info() {
        assert!(plan("edges { node { id fullName company { name } } }").is_some());
        assert!(
            plan(
                "__typename pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor } \
                 edges { __typename cursor node { id } } ids: edges { node { id } }"
            )
            .is_some()
        );
    }

    #[test]
    fn leaves_everything_else_to_the_executor() {
        for selection in [
            "totalCount edges { node { id } }",
            "edges { node { id tags } }",
            "edges { node { ... on Lead { id } } }",
            "edges @include(if: true) { node { id } }",
            "edges { node { id } } edges { cursor }",
            "... on LeadConnection { edges { node { id } } }",
            "pageInfo { hasNextPage hasNextPage }",
            "edges { cursor { id } }",
            "pageInfo { endCursor { id } }",
        ] {
            assert!(plan(selection).is_none(), "{selection}");
        }
    }
}
