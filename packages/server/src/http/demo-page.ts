/**
 * /demo/leader: one leader per name across tabs, windows and machines. Open it in several tabs;
 * exactly one shows "leader". Query: ?name= (election, default "demo"), ?ttl= (lease TTL in ms,
 * default 3000), ?token= (a credential with the "election" right over the election's name, when the
 * server requires authentication). It connects to the server that served it (see ../pages/page-connection.ts).
 * Markup, style and script are three resources (`/demo/leader`, `/demo/leader.css`,
 * `/demo/leader.js`, the script bundled from ../pages/demo-leader.ts): the Content-Security-Policy
 * allows nothing inline.
 */
export const DEMO_LEADER_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>leasehold · leader election demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/demo/leader.css">
<!-- First and on its own, so that ?token= leaves the address bar before the client bundle loads. -->
<script type="module" src="/page-connection.js"></script>
<script type="module" src="/demo/leader.js"></script>
</head>
<body>
<h1>One leader across tabs</h1>
<p>Every tab that opens this page campaigns in the same election. Exactly one is <b>leader</b>; the others
follow and take over when it goes away: at once when its tab closes, within the lease TTL when it is cut off.
Unlike the browser's Web Locks API this works across browsers and machines, and every term has a fencing token.</p>
<p class="note">The page connects only to the server that served it and sends a <code>?token=</code> nowhere
else; it removes the token from the address bar as soon as it has read it.</p>
<p><span id="role" class="role follower">follower</span></p>
<dl>
  <dt>this tab</dt><dd id="self"></dd>
  <dt>leader</dt><dd id="leader"></dd>
  <dt>term token</dt><dd id="token"></dd>
  <dt>election</dt><dd id="name"></dd>
  <dt>connection</dt><dd id="status">connecting…</dd>
</dl>
<h2>The code</h2>
<pre>import { connect } from "/leasehold.js";

const client = await connect("ws://" + location.host);
const lease = await client.leases.grant(3_000);
const term = await client.elections.campaign("demo", lease.id, { value: myId }); // resolves when leader
// lead until term.signal aborts (tab closed elsewhere, cut off, lease lost)
term.signal.addEventListener("abort", () => console.log("no longer leader:", term.signal.reason));
for await (const leader of client.elections.observe("demo")) console.log("leader is", leader?.value);</pre>
</body>
</html>
`;

/** /demo/leader.css */
export const DEMO_LEADER_CSS = `body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; padding: 0 1rem; color: #1d2433; }
.role { font-size: 2.5rem; font-weight: 700; padding: .5rem 1rem; border-radius: .5rem; display: inline-block; }
.role.leader { background: #d5f5dd; color: #0b6b2c; }
.role.follower { background: #eceff4; color: #4a5568; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { color: #4a5568; } dd { margin: 0; font-family: ui-monospace, monospace; }
pre { background: #f6f8fa; padding: 1rem; overflow-x: auto; border-radius: .5rem; font-size: 14px; }
#status { color: #4a5568; }
.note { color: #4a5568; font-size: 14px; }
`;
