// Part 6: relay-compiler against the live schema (introspected, printed
// as SDL), with `@refetchable` on Lead (needs the Relay Node interface)
// and `@connection` on `leads`; then relay-runtime runs the compiled
// operations against the server: two pages merged into one connection,
// and a lead refetched through `node(id:)`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildClientSchema, getIntrospectionQuery, printSchema } from 'graphql';
import relay from 'relay-runtime';
import { HTTP_URL, createLead, gql, runPart, signUp, suffix } from '../lib/common.mjs';

const { ConnectionHandler, Environment, Network, RecordSource, Store, commitLocalUpdate, fetchQuery } = relay;
const root = fileURLToPath(new URL('..', import.meta.url));
const artifacts = new URL('../generated/relay/__generated__/', import.meta.url);

await runPart('relay-compiler', async (log) => {
  const { token } = await signUp('relay');

  // The live schema, as SDL.
  const introspection = await gql(getIntrospectionQuery(), {}, token);
  const schema = buildClientSchema(introspection);
  const sdl = printSchema(schema);
  await mkdir(new URL('../generated/relay/', import.meta.url), { recursive: true });
  await writeFile(new URL('../generated/relay/schema.graphql', import.meta.url), sdl);
  const node = schema.getType('Node');
  const nodeField = schema.getQueryType().getFields().node;
  log(`schema: ${sdl.length} characters; interface Node: ${node ? 'yes' : 'no'}; ${schema.getQueryType().name}.node: ${nodeField ? 'yes' : 'no'}; Lead implements Node: ${node ? schema.getType('Lead').getInterfaces().some((i) => i.name === 'Node') : 'no'}`);

  // Compile.
  await rm(artifacts, { recursive: true, force: true });
  await mkdir(artifacts, { recursive: true });
  log('$ relay-compiler');
  const compiled = spawnSync('node_modules/.bin/relay-compiler', [], { cwd: root, encoding: 'utf8', timeout: 240_000, env: { ...process.env, NO_COLOR: '1' } });
  const output = `${compiled.stdout ?? ''}${compiled.stderr ?? ''}`.trim();
  if (output) console.log(output.replace(/^/gm, '    '));
  if (compiled.error) throw compiled.error;
  assert.equal(compiled.status, 0, `relay-compiler exited with ${compiled.status}`);

  // The artifacts are CommonJS modules.
  await writeFile(new URL('package.json', artifacts), '{ "type": "commonjs" }\n');
  const require = createRequire(artifacts);
  const LeadListQuery = require('./LeadListQuery.graphql.js');
  const LeadListPaginationQuery = require('./LeadListPaginationQuery.graphql.js');
  const LeadCardRefetchQuery = require('./LeadCardRefetchQuery.graphql.js');
  const LeadNotesPaginationQuery = require('./LeadNotesPaginationQuery.graphql.js');
  log(`artifacts: ${[LeadListQuery, LeadListPaginationQuery, LeadCardRefetchQuery, LeadNotesPaginationQuery].map((a) => a.params.name).join(', ')}`);

  // Data: three leads of one company.
  const s = suffix();
  const company = (await gql(`mutation RelayCompany($name: String!) { createCompany(input: { name: $name }) { id } }`, { name: `Relay ${s}` }, token)).createCompany;
  const leads = [];
  for (const name of ['One', 'Two', 'Three']) leads.push(await createLead(token, { firstName: name, companyId: company.id }));

  // relay-runtime against the server.
  const environment = new Environment({
    network: Network.create(async (params, variables) => {
      const response = await fetch(HTTP_URL, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: params.text, operationName: params.name, variables }),
      });
      const body = await response.json();
      if (body.errors?.length) throw new Error(`${params.name}: ${JSON.stringify(body.errors)}`);
      return body;
    }),
    store: new Store(new RecordSource()),
  });
  const connection = () => {
    let seen;
    commitLocalUpdate(environment, (store) => {
      const conn = ConnectionHandler.getConnection(store.getRoot(), 'LeadList_leads', { orderBy: { field: 'CREATED_AT', direction: 'ASC' } });
      assert.ok(conn, 'the LeadList_leads connection is in the store');
      seen = {
        ids: conn.getLinkedRecords('edges').map((edge) => edge.getLinkedRecord('node').getDataID()),
        pageInfo: { hasNextPage: conn.getLinkedRecord('pageInfo').getValue('hasNextPage'), endCursor: conn.getLinkedRecord('pageInfo').getValue('endCursor') },
      };
    });
    return seen;
  };

  await fetchQuery(environment, LeadListQuery, {}).toPromise();
  const page1 = connection();
  assert.deepEqual(page1.ids, leads.slice(0, 2).map((l) => l.id), 'page 1: the two oldest leads');
  assert.equal(page1.pageInfo.hasNextPage, true);
  await fetchQuery(environment, LeadListPaginationQuery, { count: 2, cursor: page1.pageInfo.endCursor }).toPromise();
  const merged = connection();
  assert.deepEqual(merged.ids, leads.map((l) => l.id), 'page 2 appended to the connection');
  assert.equal(merged.pageInfo.hasNextPage, false);
  log(`@connection: 2 pages merged, ${merged.ids.length} edges`);

  const refetched = await fetchQuery(environment, LeadCardRefetchQuery, { id: leads[1].id }).toPromise();
  // The response is masked (the fields live in LeadCard_lead's fragment):
  // what node(id:) answered is read from the store below.
  assert.ok(refetched.node, 'node(id:) answered with the lead');
  const record = environment.getStore().getSource().get(leads[1].id);
  assert.equal(record.__typename, 'Lead');
  assert.equal(record.fullName, leads[1].fullName);
  log(`@refetchable: LeadCardRefetchQuery fetched ${record.__typename} ${leads[1].id} through node(id:)`);

  // A nested connection paged through node(id:): two notes, one a page.
  for (const body of ['first note', 'second note']) {
    await gql(`mutation RelayNote($input: CreateNoteInput!) { createNote(input: $input) { id } }`, { input: { leadId: leads[0].id, body } }, token);
  }
  await fetchQuery(environment, LeadNotesPaginationQuery, { id: leads[0].id, count: 1 }).toPromise();
  const notes = environment.getStore().getSource().get(
    ConnectionHandler.getConnectionID(leads[0].id, 'LeadCard_notes'),
  );
  assert.ok(notes, 'the notes connection is in the store');
  assert.equal(notes.totalCount, 2);
  assert.equal(notes.edges.__refs.length, 1);
  log(`nested @connection: LeadNotesPaginationQuery read 1 of ${notes.totalCount} notes of ${leads[0].id}`);
});
