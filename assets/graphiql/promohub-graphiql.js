// PromoHub GraphiQL: mounts the vendored GraphiQL 3 UMD bundle and adds a
// "Sign in" plugin that puts a bearer token into the Headers editor and
// refreshes it before it expires.
//
// Plain ES2020, no build step. Loaded after react, react-dom and graphiql,
// which define the globals React, ReactDOM and GraphiQL. GraphiQL.React is the
// whole @graphiql/react module (hooks and components) of the same bundle.
(function () {
	'use strict';

	const { React, ReactDOM, GraphiQL } = window;
	const h = React.createElement;
	const GR = GraphiQL.React;

	const GRAPHQL_URL = location.origin + '/graphql';
	// The server speaks graphql-transport-ws here; the bundle's createFetcher
	// includes graphql-ws and sends the Headers editor's JSON as the
	// connection_init payload, so subscriptions carry the same Authorization.
	const SUBSCRIPTION_URL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';

	const SIGN_IN = 'Sign in'; // plugin title, also what GraphiQL stores to reopen it
	const SESSION_KEY = 'promohub-graphiql:session';

	const LOGIN = `mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken expiresAt role tenant { name slug } }
}`;
	const REFRESH = `mutation Refresh($token: String!) {
  refreshToken(token: $token) { accessToken refreshToken expiresAt role tenant { name slug } }
}`;
	const LOGOUT = 'mutation Logout($refreshToken: String) { logout(refreshToken: $refreshToken) }';

	// Short lines: with the side pane open the editor is narrow.
	const DEFAULT_QUERY = `# PromoHub GraphQL API
#
# 1. Sign in: the key icon (left sidebar).
#    It fills the Headers pane below.
# 2. Run: the play button or Ctrl-Enter.
# 3. Schema: the book icon opens the docs.

{
  leads(first: 10) {
    totalCount
    nodes {
      id
      firstName
      lastName
      email
      stage { name }
      company { name }
    }
  }
}
`;

	// ---- session store ---------------------------------------------------
	// Kept outside React so the refresh timer and the fetcher see it whether
	// or not the Sign in pane is open. The session lives in sessionStorage
	// (this tab only, gone when it closes) so a reload keeps you signed in;
	// GraphiQL itself does not persist headers unless you turn that on.

	let session = loadSession(); // { email, role, tenant, accessToken, refreshToken, expiresAt, issuedAt }
	let status = { busy: false, error: '' };
	let snapshot = { session, status };
	const listeners = new Set();

	function loadSession() {
		try {
			const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
			return s && s.accessToken && s.refreshToken ? s : null;
		} catch (_) {
			return null;
		}
	}

	function update(next) {
		if ('session' in next) {
			session = next.session;
			try {
				if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
				else sessionStorage.removeItem(SESSION_KEY);
			} catch (_) { /* storage disabled: the session lasts until reload */ }
			scheduleRefresh();
		}
		if ('status' in next) status = { ...status, ...next.status };
		snapshot = { session, status };
		listeners.forEach(l => l());
	}

	function useStore() {
		return React.useSyncExternalStore(
			l => { listeners.add(l); return () => listeners.delete(l); },
			() => snapshot,
		);
	}

	// ---- GraphQL over fetch (for the helper's own mutations) ---------------

	async function gql(query, variables, headers) {
		const res = await fetch(GRAPHQL_URL, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
			body: JSON.stringify({ query, variables }),
		});
		let body;
		try {
			body = await res.json();
		} catch (_) {
			throw new Error(`The server answered ${res.status} ${res.statusText} without a GraphQL response.`);
		}
		if (body.errors && body.errors.length) throw new Error(body.errors[0].message || 'Unknown error');
		if (!res.ok || !body.data) throw new Error(`The server answered ${res.status} ${res.statusText}.`);
		return body.data;
	}

	function toSession(email, payload) {
		return {
			email,
			role: payload.role,
			tenant: payload.tenant,
			accessToken: payload.accessToken,
			refreshToken: payload.refreshToken,
			expiresAt: payload.expiresAt,
			issuedAt: Date.now(),
		};
	}

	// ---- the Headers editor -------------------------------------------------
	// GraphiQL keeps the editors in React context; the always-mounted
	// SessionStatus (in the logo slot) hands us the header editor, a
	// CodeMirror instance with getValue/setValue. Headers belong to the
	// active tab.

	const ui = { headerEditor: null, schema: null };

	// Returns the editor's headers as an object, or null if the text is not a
	// JSON object (we never overwrite what the user typed in that case).
	function readHeaders() {
		const text = ui.headerEditor ? ui.headerEditor.getValue().trim() : '';
		if (!text) return {};
		try {
			const v = JSON.parse(text);
			return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
		} catch (_) {
			return null;
		}
	}

	function authKey(headers) {
		return Object.keys(headers).find(k => k.toLowerCase() === 'authorization');
	}

	// Sets Authorization to `Bearer token`. With `onlyReplace`, only when the
	// header is missing or still holds that old token (a refresh must not
	// clobber a token the user pasted by hand). Returns whether it did.
	function setAuthHeader(token, onlyReplace) {
		if (!ui.headerEditor) return false;
		const headers = readHeaders();
		if (!headers) throw new Error('The Headers pane does not hold a JSON object; fix or clear it, then sign in again.');
		const key = authKey(headers);
		if (onlyReplace !== undefined && key && headers[key] !== 'Bearer ' + onlyReplace) return false;
		if (key) delete headers[key];
		headers.Authorization = 'Bearer ' + token;
		ui.headerEditor.setValue(JSON.stringify(headers, null, 2));
		return true;
	}

	function removeAuthHeader(token) {
		const headers = ui.headerEditor && readHeaders();
		if (!headers) return;
		const key = authKey(headers);
		if (!key || headers[key] !== 'Bearer ' + token) return;
		delete headers[key];
		ui.headerEditor.setValue(Object.keys(headers).length ? JSON.stringify(headers, null, 2) : '');
	}

	// GraphiQL keeps "which editor tool is shown" and "is the plugin pane
	// open" in GraphiQLInterface's local state, which it does not export;
	// clicking its own buttons is the supported way to change them.
	function openHeadersPane() {
		const button = document.querySelector('.graphiql-editor-tools button[data-name="headers"]');
		if (button && !button.classList.contains('active')) button.click();
	}

	function showSignIn() {
		const button = document.querySelector(`.graphiql-sidebar button[aria-label="Show ${SIGN_IN}"]`);
		if (button) button.click();
	}

	// ---- sign in, refresh, sign out ---------------------------------------

	async function signIn(email, password) {
		update({ status: { busy: true, error: '' } });
		try {
			const data = await gql(LOGIN, { input: { email, password } });
			const next = toSession(email, data.login);
			setAuthHeader(next.accessToken);
			update({ session: next, status: { busy: false } });
			openHeadersPane();
			// Without a token the schema may not have loaded; fetch it again.
			if (ui.schema && (!ui.schema.schema || ui.schema.fetchError)) setTimeout(() => ui.schema.introspect(), 0);
		} catch (e) {
			update({ status: { busy: false, error: e.message } });
		}
	}

	let refreshing = null;

	// Exchanges the (single-use) refresh token for a new pair. Concurrent
	// callers share one request.
	function refresh() {
		if (!session) return Promise.resolve();
		if (!refreshing) {
			const old = session;
			refreshing = gql(REFRESH, { token: old.refreshToken })
				.then(data => {
					const next = toSession(old.email, data.refreshToken);
					try { setAuthHeader(next.accessToken, old.accessToken); } catch (_) { /* headers not JSON: leave them */ }
					update({ session: next, status: { error: '' } });
				})
				.catch(e => {
					update({ session: null, status: { error: `Your session ended (${e.message}). Sign in again.` } });
					throw e;
				})
				.finally(() => { refreshing = null; });
		}
		return refreshing;
	}

	// Refresh a minute before expiry (or halfway, for tokens shorter than two
	// minutes), so a copied header stays valid and requests never race it.
	function refreshDueAt(s) {
		const expires = Date.parse(s.expiresAt);
		if (Number.isNaN(expires)) return Infinity;
		const lifetime = expires - (s.issuedAt || Date.now());
		return expires - Math.min(60000, Math.max(0, lifetime / 2));
	}

	let refreshTimer = 0;
	function scheduleRefresh() {
		clearTimeout(refreshTimer);
		if (!session) return;
		const due = refreshDueAt(session);
		if (due === Infinity) return;
		// setTimeout overflows past 2^31-1 ms; re-arm instead.
		const wait = Math.min(Math.max(0, due - Date.now()), 0x7fffffff);
		refreshTimer = setTimeout(() => {
			if (Date.now() >= refreshDueAt(session)) refresh().catch(() => {});
			else scheduleRefresh();
		}, wait);
	}

	async function signOut() {
		const old = session;
		update({ session: null, status: { error: '' } });
		if (!old) return;
		removeAuthHeader(old.accessToken);
		// Revoke the refresh token on the server too; signing out locally
		// must work even if that fails (e.g. the access token had expired).
		try {
			await gql(LOGOUT, { refreshToken: old.refreshToken }, { Authorization: 'Bearer ' + old.accessToken });
		} catch (_) { /* best effort */ }
	}

	// After a reload: put the kept session's token back (GraphiQL does not
	// persist headers by default), refreshing it first if it is stale.
	let restored = false;
	function restoreSession() {
		if (restored || !session || !ui.headerEditor) return;
		restored = true;
		if (Date.now() >= refreshDueAt(session)) {
			refresh().catch(() => {});
		} else {
			try { setAuthHeader(session.accessToken, session.accessToken); } catch (_) { /* leave bad JSON alone */ }
			scheduleRefresh();
		}
	}

	// ---- fetcher ------------------------------------------------------------

	const baseFetcher = GraphiQL.createFetcher({ url: GRAPHQL_URL, subscriptionUrl: SUBSCRIPTION_URL });

	// Before a request that carries our token, refresh the token if it is
	// (nearly) expired, e.g. after the laptop slept through the timer.
	async function fetcher(params, opts) {
		const headers = opts && opts.headers;
		const key = headers && authKey(headers);
		if (session && key && headers[key] === 'Bearer ' + session.accessToken && Date.now() >= refreshDueAt(session)) {
			try {
				await refresh();
				if (session) opts = { ...opts, headers: { ...headers, [key]: 'Bearer ' + session.accessToken } };
			} catch (_) { /* send it as it is; the server explains */ }
		}
		return baseFetcher(params, opts);
	}

	// ---- UI ---------------------------------------------------------------

	function KeyIcon(props) {
		return h('svg', { viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', strokeWidth: 1.5, strokeLinecap: 'round', strokeLinejoin: 'round', ...props },
			h('circle', { cx: 7.5, cy: 15.5, r: 4 }),
			h('path', { d: 'M10.5 12.5 20 3m-4 4 3 3m-5.5-.5 2 2' }));
	}

	function SignInPanel() {
		const { session: s, status: st } = useStore();
		const [email, setEmail] = React.useState('');
		const [password, setPassword] = React.useState('');

		const error = st.error ? h('p', { className: 'promohub-signin-error', role: 'alert' }, st.error) : null;

		if (s) {
			const tenant = s.tenant ? s.tenant.name : '?';
			const until = new Date(s.expiresAt);
			return h('div', { className: 'promohub-signin' },
				h('h2', null, SIGN_IN),
				h('p', { className: 'promohub-signin-status', 'data-testid': 'promohub-signed-in' },
					`Signed in as ${s.email} (${s.role}) in ${tenant}`),
				h('p', { className: 'promohub-signin-hint' },
					'The Headers pane holds your Authorization header. The token is valid until ',
					Number.isNaN(until.getTime()) ? s.expiresAt : until.toLocaleTimeString(),
					' and is refreshed automatically while this page is open.'),
				h(GR.Button, { type: 'button', onClick: () => { signOut(); } }, 'Sign out'),
				error);
		}

		const submit = e => {
			e.preventDefault();
			if (!st.busy) signIn(email.trim(), password);
		};
		return h('div', { className: 'promohub-signin' },
			h('h2', null, SIGN_IN),
			h('p', { className: 'promohub-signin-hint' },
				'Most queries need a signed-in user. Signing in adds an Authorization header to the Headers pane.'),
			h('form', { onSubmit: submit, 'aria-label': SIGN_IN },
				h('label', null, 'Email',
					h('input', {
						type: 'email', name: 'email', autoComplete: 'username', required: true,
						placeholder: 'demo: demo@promohub.local', value: email,
						onChange: e => setEmail(e.target.value),
					})),
				h('label', null, 'Password',
					h('input', {
						type: 'password', name: 'password', autoComplete: 'current-password', required: true,
						placeholder: 'demo: promohub-demo-password', value: password,
						onChange: e => setPassword(e.target.value),
					})),
				h(GR.Button, { type: 'submit', className: 'promohub-primary', disabled: st.busy }, st.busy ? 'Signing in…' : SIGN_IN)),
			error);
	}

	// Shown where GraphiQL puts its logo (top right), so it is always
	// mounted: it hands the editor and schema contexts to the code above and
	// tells at a glance who you are, or offers to sign in.
	function SessionStatus() {
		const editor = GR.useEditorContext({ nonNull: true });
		const schema = GR.useSchemaContext({ nonNull: true });
		const { session: s } = useStore();
		ui.schema = schema;
		React.useEffect(() => {
			ui.headerEditor = editor.headerEditor;
			restoreSession();
		}, [editor.headerEditor]);
		return h('div', { className: 'promohub-logo' },
			h('span', null, 'PromoHub GraphiQL'),
			h('button', {
				type: 'button',
				className: 'graphiql-un-styled promohub-session' + (s ? ' promohub-signed-in' : ''),
				title: s ? `Signed in as ${s.email} (${s.role}) in ${s.tenant ? s.tenant.name : '?'}` : 'Sign in to run queries',
				onClick: showSignIn,
			}, h(KeyIcon, { 'aria-hidden': 'true' }), h('span', null, s ? s.email : 'Not signed in')));
	}

	const plugins = [{ title: SIGN_IN, icon: KeyIcon, content: SignInPanel }];

	// Open the Sign in pane at start unless a token is already at hand.
	function hasStoredAuthorization() {
		try {
			return /authorization/i.test(localStorage.getItem('graphiql:headers') || '');
		} catch (_) {
			return false;
		}
	}

	const container = document.getElementById('graphiql');
	container.className = '';
	container.textContent = '';
	// Rendered once: GraphiQL re-applies `visiblePlugin` whenever its props
	// change, which would reopen the pane after the user closed it.
	ReactDOM.createRoot(container).render(
		h(GraphiQL, {
			fetcher,
			plugins,
			visiblePlugin: session || hasStoredAuthorization() ? undefined : SIGN_IN,
			defaultQuery: DEFAULT_QUERY,
		}, h(GraphiQL.Logo, null, h(SessionStatus))),
	);
})();
