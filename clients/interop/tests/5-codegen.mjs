// Part 5: graphql-codegen (typescript + typescript-operations) with the
// schema introspected from the live server at its default limits and the
// operations in operations/*.graphql, then `tsc --strict --noEmit` over a
// typed file that uses the generated types.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HTTP_URL, runPart, signUp } from '../lib/common.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

function run(log, command, args, env = {}) {
  log(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, {
    cwd: root,
    env: { ...process.env, ...env, NO_COLOR: '1', FORCE_COLOR: '0' },
    encoding: 'utf8',
    timeout: 240_000,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  if (output) console.log(output.replace(/^/gm, '    '));
  if (result.error) throw result.error;
  assert.equal(result.status, 0, `${command} exited with ${result.status}`);
}

await runPart('graphql-codegen + tsc --strict', async (log) => {
  const { token } = await signUp('codegen');
  await rm(new URL('../generated/codegen', import.meta.url), { recursive: true, force: true });

  run(log, 'node_modules/.bin/graphql-codegen', ['--config', 'codegen.yml'], {
    PROMOHUB_GRAPHQL_URL: HTTP_URL,
    PROMOHUB_TOKEN: token,
  });
  const generated = await readFile(new URL('../generated/codegen/graphql.ts', import.meta.url), 'utf8');
  for (const name of ['LeadsPageQuery', 'LeadWithNotesQuery', 'CreateLeadMutation', 'UpdateLeadMutation', 'SignUpMutation', 'SenderAccountsQuery', 'MessageStatsQuery', 'LeadEventsSubscription']) {
    assert.match(generated, new RegExp(`export type ${name} = `), `codegen generated ${name}`);
  }
  assert.doesNotMatch(generated, /:\s*any\b/, 'no field is typed any');
  log(`generated ${generated.length} characters of types`);

  run(log, 'node_modules/.bin/tsc', ['-p', 'tsconfig.json', '--strict', '--noEmit']);
  log('tsc --strict --noEmit: no errors');
});
