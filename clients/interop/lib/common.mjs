// Shared helpers of the interop parts: where the server is, a plain
// GraphQL-over-HTTP call (for setup only: the parts themselves use the
// client library under test), and a fresh tenant per part.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

const raw = process.env.PROMOHUB_URL;
if (!raw) {
  console.error('PROMOHUB_URL is not set (e.g. http://127.0.0.1:8181)');
  process.exit(2);
}
export const BASE_URL = raw.replace(/\/+$/, '').replace(/\/graphql$/, '');
export const HTTP_URL = `${BASE_URL}/graphql`;
export const WS_URL = `${BASE_URL.replace(/^http/, 'ws')}/graphql/ws`;

/** A short random suffix for unique emails, slugs and names. */
export function suffix() {
  return randomBytes(5).toString('hex');
}

/**
 * One GraphQL request over HTTP with fetch; throws on a transport error or
 * any GraphQL error, returns `data`.
 */
export async function gql(query, variables = {}, token = undefined) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json;q=0.9',
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(HTTP_URL, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status}: not JSON: ${text.slice(0, 500)}`);
  }
  if (body.errors?.length) {
    throw new Error(`HTTP ${response.status}: GraphQL errors: ${JSON.stringify(body.errors)}`);
  }
  assert.equal(response.status, 200, `HTTP status for ${query.slice(0, 60)}`);
  return body.data;
}

export const SIGN_UP = /* GraphQL */ `
  mutation InteropSignUp($input: SignUpInput!) {
    signUp(input: $input) {
      accessToken
      refreshToken
      expiresAt
      role
      user { id email name }
      tenant { id name slug }
    }
  }
`;

/** Signs up a tenant of its own for `part`: `{ token, user, tenant, ... }`. */
export async function signUp(part) {
  const s = suffix();
  const input = {
    email: `interop-${part}-${s}@example.com`,
    password: `interop-password-${s}`,
    name: `Interop ${part}`,
    tenantName: `Interop ${part} ${s}`,
    tenantSlug: `interop-${part}-${s}`.slice(0, 63),
  };
  const data = await gql(SIGN_UP, { input });
  const auth = data.signUp;
  assert.ok(auth.accessToken, 'signUp returns an access token');
  assert.equal(auth.role, 'OWNER');
  assert.equal(auth.tenant.slug, input.tenantSlug);
  return { token: auth.accessToken, ...auth, input };
}

export const CREATE_LEAD = /* GraphQL */ `
  mutation InteropCreateLead($input: CreateLeadInput!) {
    createLead(input: $input) { id email fullName }
  }
`;

/** Creates a lead over plain HTTP (setup), returns `{ id, email, fullName }`. */
export async function createLead(token, input = {}) {
  const s = suffix();
  const data = await gql(
    CREATE_LEAD,
    { input: { firstName: 'Ada', lastName: `Setup ${s}`, email: `lead-${s}@example.com`, ...input } },
    token,
  );
  return data.createLead;
}

/**
 * A cursor to subscribe to `domainEvents` from, such that the subscription
 * first replays one stored LEAD_CREATED event (of the returned `replayed`
 * lead): receiving it proves the subscription runs on the server, so an
 * event caused after that is received live, without sleeping and guessing.
 */
export async function replayPoint(token) {
  const before = await createLead(token, { firstName: 'Before' });
  const replayed = await createLead(token, { firstName: 'Replayed' });
  const data = await gql(
    `query InteropEvents { domainEvents(first: 500, kinds: [LEAD_CREATED]) { nodes { cursor kind subjectId } } }`,
    {},
    token,
  );
  const event = data.domainEvents.nodes.find((e) => e.subjectId === before.id);
  assert.ok(event, `domainEvents lists the LEAD_CREATED event of ${before.id}`);
  assert.ok(
    data.domainEvents.nodes.some((e) => e.subjectId === replayed.id),
    `domainEvents lists the LEAD_CREATED event of ${replayed.id}`,
  );
  return { after: event.cursor, replayed };
}

export const DOMAIN_EVENTS = /* GraphQL */ `
  subscription InteropDomainEvents($after: String) {
    domainEvents(kinds: [LEAD_CREATED, LEAD_CHANGED], after: $after) {
      cursor kind subjectId actorId payload at
    }
  }
`;

/** Rejects after `ms` with a message naming `what`. */
export function timeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Runs a part: prints its steps, exits 1 on the first failure. */
export async function runPart(name, fn) {
  const started = Date.now();
  try {
    await fn((msg) => console.log(`  [${name}] ${msg}`));
    console.log(`  [${name}] ok in ${Date.now() - started} ms`);
    // Clients may keep sockets or timers: the part is done.
    process.exit(0);
  } catch (error) {
    console.error(`  [${name}] FAILED: ${error?.stack ?? error}`);
    if (error?.cause) console.error(`  [${name}] cause: ${JSON.stringify(error.cause, null, 2)}`);
    process.exit(1);
  }
}
