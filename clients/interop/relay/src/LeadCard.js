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
