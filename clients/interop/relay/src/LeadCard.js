// Relay documents as an SPA's components declare them; relay-compiler
// reads the graphql`` tags (this file is never run).
import { graphql } from 'relay-runtime';

// A lead card that can refetch itself: `@refetchable` on a type needs the
// Relay Node interface (`node(id:)` on the query root, `Lead implements Node`).
export const leadCardFragment = graphql`
  fragment LeadCard_lead on Lead @refetchable(queryName: "LeadCardRefetchQuery") {
    id
    fullName
    email
    status
    score
    tags
    company {
      id
      name
    }
    stage {
      id
      name
    }
  }
`;

export const leadCardQuery = graphql`
  query LeadCardQuery($id: ID!) {
    lead(id: $id) {
      ...LeadCard_lead
    }
  }
`;

// A lead's notes paged in place: a nested connection refetched through
// `node(id:)`, with each note's own history as a connection.
export const leadNotesFragment = graphql`
  fragment LeadCard_notes on Lead
  @refetchable(queryName: "LeadNotesPaginationQuery")
  @argumentDefinitions(count: { type: "Int", defaultValue: 5 }, cursor: { type: "String" }) {
    id
    notes(first: $count, after: $cursor) @connection(key: "LeadCard_notes") {
      totalCount
      edges {
        node {
          id
          body
          versions(first: 3) {
            totalCount
            nodes {
              id
              version
            }
          }
        }
      }
    }
  }
`;
