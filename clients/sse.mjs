// graphql-sse in its default (distinct connections) mode: a query and a subscription over
// server-sent events; its single connection mode is refused saying what works.
import { createClient } from 'graphql-sse';
import { check, changedSubscription, key, url, viewerQuery } from './common.mjs';

const client = createClient({ url, headers: { Authorization: `Bearer ${key}` }, retryAttempts: 0 });

const results = [];
for await (const r of client.iterate({ query: viewerQuery })) results.push(r);
check(results.length === 1 && results[0].data.viewer.role === 'ADMIN', 'graphql-sse: a query as an event stream', results);

const got = [];
console.log('subscribing'); // server/clients_test.go starts making changes
for await (const r of client.iterate({ query: changedSubscription })) {
  if (r.errors) check(false, 'graphql-sse: subscription', r.errors);
  got.push(r.data.activityChanged);
  if (got.length === 2) break; // leaving the loop ends the stream
}
check(got.every((c) => c.type === 'CREATED'), 'graphql-sse: two changes over an event stream', got);

const single = createClient({ url, headers: { Authorization: `Bearer ${key}` }, singleConnection: true, retryAttempts: 0 });
let message = '';
try {
  for await (const r of single.iterate({ query: viewerQuery })) message = JSON.stringify(r);
} catch (e) {
  message = String(e?.message ?? e);
}
check(message.includes('405'), 'graphql-sse: single connection mode refused', message);
// graphql-sse's error shows the status line; the answer to its reservation (a PUT) says what to do.
const reservation = await fetch(url, { method: 'PUT', headers: { Authorization: `Bearer ${key}` } });
const body = await reservation.json();
check(body.errors[0].extensions.code === 'UNSUPPORTED' && body.errors[0].message.includes('singleConnection: false'),
  'graphql-sse: the refusal says what works', body);
single.dispose();
client.dispose();
