// Part 3: Apollo Client 4 in the way an SPA sets it up: HttpLink for
// queries and mutations, GraphQLWsLink (graphql-ws) for subscriptions,
// split on the operation type, an InMemoryCache that normalizes by
// `__typename:id`.
import assert from 'node:assert/strict';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { HTTP_URL, WS_URL, replayPoint, runPart, signUp, suffix } from '../lib/common.mjs';
import { pushQueue } from '../lib/queue.mjs';

const LEAD_FIELDS = gql`
  fragment ApolloLeadFields on Lead {
    id
    fullName
    email
    status
    jobTitle
    tags
    company { id name domain }
    stage { id name position }
  }
`;

const LEADS_PAGE = gql`
  query ApolloLeadsPage($first: Int!, $after: String) {
    leads(first: $first, after: $after, orderBy: { field: CREATED_AT, direction: DESC }) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { ...ApolloLeadFields } }
    }
  }
  ${LEAD_FIELDS}
`;

const LEAD = gql`
  query ApolloLead($id: ID!) {
    lead(id: $id) { ...ApolloLeadFields }
  }
  ${LEAD_FIELDS}
`;

const CREATE_COMPANY = gql`
  mutation ApolloCreateCompany($input: CreateCompanyInput!) {
    createCompany(input: $input) { id name domain }
  }
`;

const CREATE_LEAD = gql`
  mutation ApolloCreateLead($input: CreateLeadInput!) {
    createLead(input: $input) { ...ApolloLeadFields }
  }
  ${LEAD_FIELDS}
`;

const UPDATE_LEAD = gql`
  mutation ApolloUpdateLead($id: ID!, $input: UpdateLeadInput!) {
    updateLead(id: $id, input: $input) { id status jobTitle }
  }
`;

const DOMAIN_EVENTS = gql`
  subscription ApolloDomainEvents($after: String) {
    domainEvents(kinds: [LEAD_CREATED, LEAD_CHANGED], after: $after) {
      cursor kind subjectId payload
    }
  }
`;

await runPart('apollo-client', async (log) => {
  const { token } = await signUp('apollo');
  const { after, replayed } = await replayPoint(token);

  let httpRequests = 0;
  const httpLink = new HttpLink({
    uri: HTTP_URL,
    headers: { authorization: `Bearer ${token}` },
    fetch: (...args) => {
      httpRequests++;
      return fetch(...args);
    },
  });
  const wsClient = createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(wsClient),
    httpLink,
  );
  const cache = new InMemoryCache({
    typePolicies: {
      // The schema's root types are QueryRoot, MutationRoot, SubscriptionRoot.
      QueryRoot: {
        queryType: true,
        fields: {
          // A lead already in the cache (from a page of leads) answers
          // `lead(id:)` without a request.
          lead: {
            read: (existing, { args, toReference }) => existing ?? toReference({ __typename: 'Lead', id: args.id }),
          },
        },
      },
      MutationRoot: { mutationType: true },
      SubscriptionRoot: { subscriptionType: true },
    },
  });
  const client = new ApolloClient({ link, cache });

  // Mutations over HttpLink.
  const s = suffix();
  const company = (await client.mutate({
    mutation: CREATE_COMPANY,
    variables: { input: { name: `Apollo Works ${s}`, website: `https://apollo-${s}.example.com` } },
  })).data.createCompany;
  assert.equal(company.domain, `apollo-${s}.example.com`);
  const created = (await client.mutate({
    mutation: CREATE_LEAD,
    variables: { input: { firstName: 'Grace', lastName: 'Apollo', email: `grace-${s}@example.com`, companyId: company.id, tags: ['vip', 'apollo'] } },
  })).data.createLead;
  assert.equal(created.__typename, 'Lead');
  assert.equal(created.company.id, company.id);
  assert.equal(created.stage?.name, 'New', 'a new lead lands in the default stage');
  assert.deepEqual([...created.tags].sort(), ['apollo', 'vip']);
  log(`mutations: company ${company.id}, lead ${created.id}`);

  // A query: a page of leads with nested company, stage and tags.
  const page = await client.query({ query: LEADS_PAGE, variables: { first: 10 } });
  assert.equal(page.error, undefined);
  const leads = page.data.leads;
  assert.equal(leads.totalCount, 3, 'the two setup leads and the one created here');
  assert.equal(leads.edges.length, 3);
  assert.equal(leads.pageInfo.hasNextPage, false);
  const edge = leads.edges.find((e) => e.node.id === created.id);
  assert.ok(edge, 'the new lead is on the page');
  assert.equal(edge.node.company.name, `Apollo Works ${s}`);
  assert.ok(leads.edges.some((e) => e.node.id === replayed.id));
  log(`query: ${leads.edges.length} leads, totalCount ${leads.totalCount}`);

  // The normalized cache: the lead is stored once, as Lead:<id>.
  const cacheId = cache.identify({ __typename: 'Lead', id: created.id });
  assert.equal(cacheId, `Lead:${created.id}`);
  assert.equal(cache.extract()[cacheId].fullName, 'Grace Apollo');
  assert.ok(cache.extract()[`Company:${company.id}`], 'the company is normalized too');

  // A second query for that lead is answered from the cache: no request.
  const requestsBefore = httpRequests;
  const fromCache = await client.query({ query: LEAD, variables: { id: created.id }, fetchPolicy: 'cache-only' });
  assert.equal(httpRequests, requestsBefore, 'cache-only made no request');
  assert.equal(fromCache.data.lead.id, created.id);
  assert.equal(fromCache.data.lead.company.name, `Apollo Works ${s}`);
  const cacheFirst = await client.query({ query: LEAD, variables: { id: created.id }, fetchPolicy: 'cache-first' });
  assert.equal(httpRequests, requestsBefore, 'cache-first found everything in the cache');
  assert.equal(cacheFirst.data.lead.fullName, 'Grace Apollo');
  log('cache: lead(id:) answered from the cache, no request');

  // A mutation's result updates the cached entity by __typename:id.
  const updated = (await client.mutate({
    mutation: UPDATE_LEAD,
    variables: { id: created.id, input: { status: 'CONTACTED', jobTitle: 'VP Sales' } },
  })).data.updateLead;
  assert.equal(updated.status, 'CONTACTED');
  assert.equal(cache.extract()[cacheId].status, 'CONTACTED');
  assert.equal(cache.extract()[cacheId].jobTitle, 'VP Sales');
  const requestsAfterUpdate = httpRequests;
  const afterUpdate = await client.query({ query: LEAD, variables: { id: created.id }, fetchPolicy: 'cache-only' });
  assert.equal(afterUpdate.data.lead.status, 'CONTACTED');
  const pageAfterUpdate = await client.query({ query: LEADS_PAGE, variables: { first: 10 }, fetchPolicy: 'cache-only' });
  assert.equal(pageAfterUpdate.data.leads.edges.find((e) => e.node.id === created.id).node.jobTitle, 'VP Sales');
  assert.equal(httpRequests, requestsAfterUpdate, 'reads after the mutation came from the cache');
  log('cache: updateLead updated Lead:<id> for every query that shows it');

  // A subscription over GraphQLWsLink.
  const requestsBeforeSubscription = httpRequests;
  const events = pushQueue();
  const subscription = client.subscribe({ query: DOMAIN_EVENTS, variables: { after } }).subscribe({
    next: (result) => (result.error ? events.fail(result.error) : events.push(result.data.domainEvents)),
    error: (error) => events.fail(error),
    complete: () => events.end(),
  });
  const first = await events.next('the replayed LEAD_CREATED');
  assert.equal(first.kind, 'LEAD_CREATED');
  assert.equal(first.subjectId, replayed.id);
  assert.equal(httpRequests, requestsBeforeSubscription, 'the subscription went over the WebSocket, not HTTP');
  // Then the stored events of the mutations above, then live ones.
  const second = await events.until((e) => e.subjectId === created.id && e.kind === 'LEAD_CHANGED', 'the LEAD_CHANGED of the update above');
  assert.ok(second.payload.fields.includes('jobTitle') && second.payload.fields.includes('status'), JSON.stringify(second.payload));
  const live = (await client.mutate({
    mutation: CREATE_LEAD,
    variables: { input: { firstName: 'Live', lastName: 'Apollo', email: `live-${s}@example.com` } },
  })).data.createLead;
  const event = await events.until((e) => e.subjectId === live.id, 'the LEAD_CREATED of a lead created by Apollo while subscribed');
  assert.equal(event.kind, 'LEAD_CREATED');
  assert.equal(event.subjectId, live.id);
  log(`subscription: replayed, then live ${event.kind} ${event.subjectId}`);
  subscription.unsubscribe();
  client.stop();
  await wsClient.dispose();
});
