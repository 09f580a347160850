// Headless-Chromium check of the GraphiQL page PromoHub serves at /graphql.
//
// Proves that the page works offline and under its Content-Security-Policy:
// every request to another origin is aborted (and fails the check), console
// errors and CSP violations fail the check. Then it signs in through the
// page's "Sign in" helper, opens the Documentation Explorer, runs the sample
// query and saves a screenshot.
//
// Environment:
//   PROMOHUB_URL     the server, e.g. http://127.0.0.1:8080 (required)
//   CHROMIUM_PATH    browser binary (default /usr/bin/chromium)
//   SCREENSHOT_DIR   where graphiql.png goes (default .)
//   PROMOHUB_EMAIL / PROMOHUB_PASSWORD   default: the demo user
//   ALLOW_NO_CSP=1   accept a page served without a CSP header
//   CHECK_TIMEOUT_MS per-step timeout (default 20000)
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const base = (process.env.PROMOHUB_URL || '').replace(/\/+$/, '');
if (!base) fail('setup', 'set PROMOHUB_URL to the server, e.g. http://127.0.0.1:8080');
const origin = new URL(base).origin;
const host = new URL(base).host;
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const shotDir = process.env.SCREENSHOT_DIR || '.';
const email = process.env.PROMOHUB_EMAIL || 'demo@promohub.local';
const password = process.env.PROMOHUB_PASSWORD || 'promohub-demo-password';
const timeout = +(process.env.CHECK_TIMEOUT_MS || 20000);

const blocked = []; // requests GraphiQL tried to make to other origins
const consoleErrors = [];
const httpErrors = [];
let sameOrigin = 0;
let browser;
let page;

function fail(step, message) {
	console.error(`graphiql-check: FAILED at "${step}": ${message}`);
	process.exitCode = 1;
	throw Object.assign(new Error(message), { reported: true });
}

async function step(name, fn) {
	try {
		const out = await fn();
		console.log(`graphiql-check: ok   ${name}`);
		return out;
	} catch (e) {
		if (!e.reported) fail(name, e.message);
		throw e;
	}
}

// CodeMirror 5 hangs its editor object on the wrapper element; reading the
// value through it sees the whole text, not just the rendered lines.
const editorValue = selector => page.evaluate(sel => {
	const el = document.querySelector(sel);
	return el && el.CodeMirror ? el.CodeMirror.getValue() : null;
}, selector);
const HEADERS_EDITOR = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
const RESPONSE_EDITOR = '.graphiql-response .CodeMirror';

async function main() {
	if (!fs.existsSync(chromiumPath)) fail('setup', `no browser at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`);
	browser = await chromium.launch({
		executablePath: chromiumPath,
		headless: true,
		// --no-sandbox: the check usually runs as root in a container.
		args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
	});
	const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
	context.setDefaultTimeout(timeout);

	// Offline proof: only the server's origin is reachable.
	await context.route('**/*', route => {
		const url = route.request().url();
		if (url.startsWith(origin + '/')) {
			sameOrigin++;
			return route.continue();
		}
		blocked.push(url);
		return route.abort('blockedbyclient');
	});
	await context.routeWebSocket(url => url.host !== host, ws => {
		blocked.push(ws.url());
		ws.close();
	});
	// CSP violations also reach the console, but catch them at the source too.
	await context.addInitScript(() => {
		window.__cspViolations = [];
		document.addEventListener('securitypolicyviolation', e => {
			window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile || ''}:${e.lineNumber || ''})`);
		});
	});

	page = await context.newPage();
	page.on('console', msg => {
		if (msg.type() === 'error') consoleErrors.push(msg.text());
	});
	page.on('pageerror', err => consoleErrors.push(`uncaught: ${err.message}`));
	page.on('response', res => {
		if (res.status() >= 400) httpErrors.push(`${res.status()} ${res.request().method()} ${res.url()}`);
	});

	await step('open /graphql', async () => {
		const res = await page.goto(`${base}/graphql`, { waitUntil: 'load' });
		if (!res || !res.ok()) throw new Error(`GET /graphql answered ${res ? res.status() : 'nothing'}`);
		const type = res.headers()['content-type'] || '';
		if (!type.includes('text/html')) throw new Error(`GET /graphql answered ${type || 'no content-type'}, not text/html`);
		const csp = res.headers()['content-security-policy'];
		if (!csp) {
			if (process.env.ALLOW_NO_CSP !== '1') throw new Error('the page has no Content-Security-Policy header (ALLOW_NO_CSP=1 to accept)');
		} else {
			const script = (csp.match(/script-src([^;]*)/) || csp.match(/default-src([^;]*)/) || [])[1] || '';
			if (/'unsafe-inline'|'unsafe-eval'/.test(script)) throw new Error(`the CSP allows inline or eval'd scripts: ${csp}`);
			console.log(`graphiql-check: CSP  ${csp}`);
		}
		if ((await page.title()) !== 'PromoHub GraphiQL') throw new Error(`title is "${await page.title()}"`);
	});

	await step('GraphiQL renders', async () => {
		await page.locator('.graphiql-container').waitFor();
		await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
		await page.waitForFunction(sel => {
			const el = document.querySelector(sel);
			return el && el.CodeMirror && el.CodeMirror.getValue().includes('leads(');
		}, '.graphiql-query-editor .CodeMirror');
	});

	await step('sign in through the helper', async () => {
		const form = page.locator('.promohub-signin form');
		// The pane opens by itself when no Authorization header is set.
		if (!(await form.isVisible())) throw new Error('the Sign in pane is not open at start');
		await form.locator('input[name="email"]').fill(email);
		await form.locator('input[name="password"]').fill(password);
		await form.locator('button[type="submit"]').click();
		const done = page.locator('[data-testid="promohub-signed-in"], .promohub-signin-error').first();
		await done.waitFor();
		if (await done.evaluate(el => el.classList.contains('promohub-signin-error'))) {
			throw new Error(`the helper says: ${await done.textContent()}`);
		}
		const text = (await done.textContent()).trim();
		if (!/^Signed in as \S+ \(\w+\) in .+/.test(text) || !text.includes(email)) throw new Error(`unexpected status "${text}"`);
		console.log(`graphiql-check:      ${text}`);
		// The token must be in the (now open) Headers pane.
		await page.locator('.graphiql-editor-tools button[data-name="headers"].active').waitFor();
		const headers = await editorValue(HEADERS_EDITOR);
		let auth;
		try { auth = JSON.parse(headers).Authorization; } catch (_) { /* checked below */ }
		if (!/^Bearer \S+$/.test(auth || '')) throw new Error(`the Headers pane holds ${JSON.stringify(headers)}, not an Authorization: Bearer header`);
	});

	await step('Documentation Explorer lists the root types', async () => {
		await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
		const docs = page.locator('.graphiql-doc-explorer');
		await docs.waitFor();
		await docs.getByText('Root Types').waitFor();
		const queryRoot = docs.locator('a.graphiql-doc-explorer-type-name', { hasText: /^QueryRoot$/ });
		await queryRoot.waitFor();
		const text = await docs.textContent();
		for (const t of ['MutationRoot', 'SubscriptionRoot']) if (!text.includes(t)) throw new Error(`no ${t} among the root types`);
		await queryRoot.click();
		await docs.locator('a.graphiql-doc-explorer-field-name', { hasText: /^leads$/ }).first().waitFor();
	});

	await step('run the sample query', async () => {
		await page.locator('.graphiql-execute-button').click();
		await page.waitForFunction(sel => {
			const el = document.querySelector(sel);
			const v = el && el.CodeMirror ? el.CodeMirror.getValue() : '';
			return v.includes('"totalCount"') || v.includes('"errors"');
		}, RESPONSE_EDITOR);
		const result = await editorValue(RESPONSE_EDITOR);
		if (result.includes('"errors"')) throw new Error(`the query failed: ${result.replace(/\s+/g, ' ').slice(0, 400)}`);
		const total = JSON.parse(result).data.leads.totalCount;
		console.log(`graphiql-check:      leads.totalCount = ${total}`);
	});

	await step('screenshot', async () => {
		fs.mkdirSync(shotDir, { recursive: true });
		const file = path.join(shotDir, 'graphiql.png');
		await page.screenshot({ path: file });
		console.log(`graphiql-check:      saved ${file}`);
	});

	await step('offline, no console errors, no CSP violations', async () => {
		const csp = await page.evaluate(() => window.__cspViolations);
		const problems = [
			...blocked.map(u => `tried to reach another origin: ${u}`),
			...csp.map(v => `CSP violation: ${v}`),
			...consoleErrors.map(m => `console error: ${m}`),
			...httpErrors.map(m => `HTTP error: ${m}`),
		];
		// Shorten each line: a blocked font is reported with its whole data: URI.
		const short = [...new Set(problems)].map(p => (p.length > 300 ? p.slice(0, 300) + '…' : p));
		if (problems.length) throw new Error(`${problems.length} problem(s):\n  ${short.join('\n  ')}`);
		if (!sameOrigin) throw new Error('saw no requests at all');
	});
}

try {
	await main();
	console.log(`graphiql-check: PASSED (${sameOrigin} same-origin requests, ${blocked.length} blocked)`);
} catch (e) {
	if (!e.reported) console.error(`graphiql-check: FAILED: ${e.stack || e}`);
	process.exitCode = 1;
	if (page) {
		const file = path.join(shotDir, 'graphiql-failure.png');
		try {
			fs.mkdirSync(shotDir, { recursive: true });
			await page.screenshot({ path: file });
			console.error(`graphiql-check: screenshot of the failure: ${file}`);
		} catch (_) { /* the page may be gone */ }
	}
} finally {
	if (browser) await browser.close();
}
