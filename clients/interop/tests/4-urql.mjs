// Part 4: urql 6 (@urql/core): fetchExchange for queries and mutations,
// subscriptionExchange over a graphql-ws client for subscriptions, and the
// document cache (a repeated query is a cache hit; a mutation returning a
// Lead invalidates the cached queries that contain leads).
import assert from 'node:assert/strict';
import { Client, cacheExchange, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { HTTP_URL, WS_URL, replayPoint, runPart, signUp, suffix } from '../lib/common.mjs';
import { pushQueue } from '../lib/queue.mjs';

const LEADS = gql`
  query UrqlLeads($first: Int!, $filter: LeadFilter) {
    leads(first: $first, filter: $filter) {
      totalCount
      nodes { id fullName email status tags company { id name } stage { id name } }
    }
  }
`;

const CREATE_LEAD = gql`
  mutation UrqlCreateLead($input: CreateLeadInput!) {
    createLead(input: $input) { id fullName email status tags }
  }
`;

const ADD_TAGS = gql`
  mutation UrqlAddTags($id: ID!, $tags: [String!]!) {
    addTags(id: $id, tags: $tags) { id tags }
  }
`;

const DOMAIN_EVENTS = gql`
  subscription UrqlDomainEvents($after: String) {
    domainEvents(kinds: [LEAD_CREATED, LEAD_CHANGED], after: $after) {
      cursor kind subjectId payload
    }
  }
`;

await runPart('urql', async (log) => {
  const { token } = await signUp('urql');
  const { after, replayed } = await replayPoint(token);

  const wsClient = createWsClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { token },
    retryAttempts: 0,
  });
  let httpRequests = 0;
  const client = new Client({
    url: HTTP_URL,
    fetch: (...args) => {
      httpRequests++;
      return fetch(...args);
    },
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              return { unsubscribe: wsClient.subscribe(input, sink) };
            },
          };
        },
      }),
    ],
  });

  // A mutation.
  const s = suffix();
  const created = await client.mutation(CREATE_LEAD, {
    input: { firstName: 'Linus', lastName: 'Urql', email: `linus-${s}@example.com`, tags: ['urql'] },
  }).toPromise();
  assert.equal(created.error, undefined, `${created.error}`);
  const lead = created.data.createLead;
  assert.equal(lead.__typename, 'Lead');
  assert.equal(lead.status, 'NEW');
  assert.deepEqual(lead.tags, ['urql']);
  log(`mutation: lead ${lead.id}`);

  // A query, then the same query again: a document-cache hit.
  const filter = { tags: { contains: 'urql' } };
  const first = await client.query(LEADS, { first: 20, filter }).toPromise();
  assert.equal(first.error, undefined, `${first.error}`);
  assert.equal(first.data.leads.totalCount, 1);
  assert.equal(first.data.leads.nodes[0].id, lead.id);
  assert.equal(first.data.leads.nodes[0].stage.name, 'New');
  const all = await client.query(LEADS, { first: 20 }).toPromise();
  assert.equal(all.data.leads.totalCount, 3);
  assert.ok(all.data.leads.nodes.some((n) => n.id === replayed.id));
  const requests = httpRequests;
  const again = await client.query(LEADS, { first: 20, filter }).toPromise();
  assert.equal(httpRequests, requests, 'the repeated query was answered by the cache');
  assert.deepEqual(again.data, first.data);
  log(`query: ${all.data.leads.totalCount} leads; repeated query served from the cache`);

  // A mutation returning a Lead invalidates cached queries with leads.
  const tagged = await client.mutation(ADD_TAGS, { id: lead.id, tags: ['kernel'] }).toPromise();
  assert.equal(tagged.error, undefined, `${tagged.error}`);
  assert.deepEqual([...tagged.data.addTags.tags].sort(), ['kernel', 'urql']);
  const afterMutation = httpRequests;
  const refreshed = await client.query(LEADS, { first: 20, filter }).toPromise();
  assert.equal(httpRequests, afterMutation + 1, 'the invalidated query went to the network');
  assert.deepEqual([...refreshed.data.leads.nodes[0].tags].sort(), ['kernel', 'urql']);
  log('cache: addTags invalidated the leads query, which was fetched again');

  // A subscription through subscriptionExchange + graphql-ws.
  const requestsBeforeSubscription = httpRequests;
  const events = pushQueue();
  const subscription = client.subscription(DOMAIN_EVENTS, { after }).subscribe((result) => {
    if (result.error) events.fail(result.error);
    else events.push(result.data.domainEvents);
  });
  const replay = await events.next('the replayed LEAD_CREATED');
  assert.equal(replay.kind, 'LEAD_CREATED');
  assert.equal(replay.subjectId, replayed.id);
  assert.equal(httpRequests, requestsBeforeSubscription, 'the subscription went over the WebSocket, not HTTP');
  const tagEvent = await events.until((e) => e.subjectId === lead.id && e.kind === 'LEAD_CHANGED', 'the LEAD_CHANGED of addTags');
  assert.deepEqual(tagEvent.payload, { fields: ['tags'] });
  const live = await client.mutation(CREATE_LEAD, {
    input: { firstName: 'Live', lastName: 'Urql', email: `live-${s}@example.com` },
  }).toPromise();
  assert.equal(live.error, undefined, `${live.error}`);
  const event = await events.until((e) => e.subjectId === live.data.createLead.id, 'the LEAD_CREATED of a lead created while subscribed');
  assert.equal(event.kind, 'LEAD_CREATED');
  log(`subscription: replayed, then live ${event.kind} ${event.subjectId}`);
  subscription.unsubscribe();
  await wsClient.dispose();
});
