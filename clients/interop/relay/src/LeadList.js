// A paginated list of leads: `@connection` on `leads`, paginated by a
// `@refetchable` fragment on the query root.
import { graphql } from 'relay-runtime';

export const leadListFragment = graphql`
  fragment LeadList_query on QueryRoot
  @argumentDefinitions(
    count: { type: "Int", defaultValue: 2 }
    cursor: { type: "String" }
  )
  @refetchable(queryName: "LeadListPaginationQuery") {
    leads(first: $count, after: $cursor, orderBy: { field: CREATED_AT, direction: ASC })
      @connection(key: "LeadList_leads") {
      totalCount
      edges {
        node {
          id
          ...LeadCard_lead
        }
      }
    }
  }
`;

export const leadListQuery = graphql`
  query LeadListQuery {
    ...LeadList_query
  }
`;
