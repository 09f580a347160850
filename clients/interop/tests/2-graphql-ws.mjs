// Part 2: the graphql-ws client (graphql-transport-ws protocol) on
// /graphql/ws: a token in connectionParams, a `domainEvents` subscription
// that receives the events of mutations made over HTTP, a clean complete
// and close, and a bad token refused with 4403.
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { DOMAIN_EVENTS, WS_URL, createLead, gql, replayPoint, runPart, signUp, suffix, timeout } from '../lib/common.mjs';

/** A graphql-ws client that records its connection's life. */
function connect(connectionParams) {
  const life = { acks: [], closes: [], errors: [] };
  let closed;
  life.closed = new Promise((resolve) => (closed = resolve));
  const client = createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: true,
    retryAttempts: 0,
    on: {
      connected: (_socket, payload) => life.acks.push(payload ?? null),
      closed: (event) => {
        life.closes.push({ code: event.code, reason: event.reason });
        closed(event);
      },
      error: (error) => life.errors.push(error),
    },
  });
  return { client, life };
}

await runPart('graphql-ws', async (log) => {
  const { token } = await signUp('ws');
  const { after, replayed } = await replayPoint(token);
  log(`tenant signed up; subscribing after cursor ${after}`);

  const { client, life } = connect({ Authorization: `Bearer ${token}` });
  const events = client.iterate({ query: DOMAIN_EVENTS, variables: { after } });
  const next = async (what) => {
    const { value, done } = await timeout(events.next(), 10_000, what);
    assert.equal(done, false, `the subscription is still running while waiting for ${what}`);
    assert.equal(value.errors, undefined, `no errors in ${JSON.stringify(value)}`);
    return value.data.domainEvents;
  };

  // The stored event after the cursor comes first: the subscription is live.
  const first = await next('the replayed LEAD_CREATED');
  assert.equal(first.kind, 'LEAD_CREATED');
  assert.equal(first.subjectId, replayed.id);
  assert.equal(life.acks.length, 1, 'one connection_ack');
  log(`replayed ${first.kind} ${first.subjectId} (cursor ${first.cursor})`);

  // A mutation over HTTP now reaches the subscriber.
  const lead = await createLead(token, { firstName: 'Live', lastName: suffix() });
  const created = await next('the LEAD_CREATED of a lead created over HTTP');
  assert.equal(created.kind, 'LEAD_CREATED');
  assert.equal(created.subjectId, lead.id);
  assert.notEqual(created.cursor, first.cursor, 'each event has its own cursor');
  assert.ok(!Number.isNaN(Date.parse(created.at)), 'at is a date-time');
  log(`live ${created.kind} ${created.subjectId}`);

  await gql(
    `mutation InteropUpdate($id: ID!) { updateLead(id: $id, input: { jobTitle: "CTO" }) { id jobTitle } }`,
    { id: lead.id },
    token,
  );
  const changed = await next('the LEAD_CHANGED of updateLead');
  assert.equal(changed.kind, 'LEAD_CHANGED');
  assert.equal(changed.subjectId, lead.id);
  assert.deepEqual(changed.payload, { fields: ['jobTitle'] });
  log(`live ${changed.kind} ${changed.subjectId} ${JSON.stringify(changed.payload)}`);

  // Complete: the client sends `complete`, the lazy client then closes
  // the socket normally (1000).
  const finished = await events.return();
  assert.equal(finished.done, true);
  const close = await timeout(life.closed, 5_000, 'the socket closing after complete');
  await client.dispose();
  assert.deepEqual(life.errors, [], 'no socket errors');
  log(`completed; socket closed ${close.code} ${close.reason}`);

  // A bad token: the server closes with 4403 and the client says so.
  const bad = connect({ Authorization: 'Bearer not-a-token' });
  const refused = bad.client.iterate({ query: DOMAIN_EVENTS, variables: {} });
  await assert.rejects(timeout(refused.next(), 10_000, 'a bad token refused'), (error) => {
    assert.equal(error.code, 4403, `close 4403 for a bad token, got ${error.code} ${error.reason}`);
    return true;
  });
  await bad.client.dispose();
  log('a bad token is closed with 4403');

  // Checked last so the checks above run either way. The client closed
  // with 1000 once nothing was subscribed; the server must answer that
  // close frame with its own (RFC 6455 5.5.1), else the client sees 1006
  // (abnormal closure: the TCP connection ended without a close frame).
  assert.equal(close.code, 1000, `the closing handshake completes with 1000 after complete, got ${close.code} ${JSON.stringify(close.reason)} (1006: the server ended the connection without answering the client's close frame)`);
});
