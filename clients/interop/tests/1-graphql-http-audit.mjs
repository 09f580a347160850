// Part 1: graphql-http's GraphQL-over-HTTP conformance audit against
// /graphql. Passes only with 0 MUST failures and 0 SHOULD warnings; every
// result is printed, and each non-passing one with the response seen.
import { mkdir, writeFile } from 'node:fs/promises';
import { auditServer, renderAuditResultsToHTML } from 'graphql-http';
import { HTTP_URL, runPart } from '../lib/common.mjs';

async function describe(response) {
  const headers = {};
  for (const [key, value] of response.headers.entries()) {
    if (key !== 'date') headers[key] = value;
  }
  let body;
  try {
    body = await response.clone().text();
  } catch (error) {
    body = `<body not readable: ${error.message}>`;
  }
  return JSON.stringify({ status: response.status, headers, body: body.length > 2000 ? `${body.slice(0, 2000)}…` : body });
}

await runPart('graphql-http audit', async (log) => {
  const results = await auditServer({ url: HTTP_URL });
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  const failing = [];
  for (const result of results) {
    counts[result.status]++;
    const mark = { ok: 'ok    ', notice: 'notice', warn: 'WARN  ', error: 'ERROR ' }[result.status];
    log(`${mark} ${result.id} ${result.name}`);
    if (result.status !== 'ok') {
      const seen = await describe(result.response);
      log(`         reason: ${result.reason}`);
      log(`         response: ${seen}`);
      if (result.status === 'warn' || result.status === 'error') failing.push(result);
    }
  }
  await mkdir(new URL('../generated/', import.meta.url), { recursive: true });
  await writeFile(new URL('../generated/graphql-http-audit.html', import.meta.url), await renderAuditResultsToHTML(results));
  log(`${results.length} audits: ${counts.ok} ok, ${counts.notice} notices (MAY), ${counts.warn} warnings (SHOULD), ${counts.error} errors (MUST)`);
  if (failing.length) {
    throw new Error(
      `${counts.error} MUST failures and ${counts.warn} SHOULD warnings:\n` +
        failing.map((r) => `    ${r.status} ${r.id} ${r.name}: ${r.reason}`).join('\n'),
    );
  }
});
