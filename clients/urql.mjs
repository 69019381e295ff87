// urql (@urql/core) as a frontend uses it: queries over HTTP with urql's default Accept header,
// pages, a subscription over graphql-ws, and the error a bad key gets.
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWSClient } from 'graphql-ws';
import { check, changedSubscription, key, pageAll, pageQuery, stored, url, viewerQuery, WebSocket, wsUrl } from './common.mjs';

const ws = createWSClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${key}` }, lazy: true });
const client = new Client({
  url,
  fetchOptions: { headers: { Authorization: `Bearer ${key}` } },
  requestPolicy: 'network-only',
  exchanges: [fetchExchange, subscriptionExchange({
    forwardSubscription: (request) => ({ subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query || '' }, sink) }) }),
  })],
});

const viewer = await client.query(viewerQuery, {}).toPromise();
check(!viewer.error && viewer.data.viewer.role === 'ADMIN', 'urql: viewer over HTTP as JSON', viewer.error?.message);

const { ids, total } = await pageAll(async (vars) => {
  const r = await client.query(pageQuery, vars).toPromise();
  if (r.error) throw r.error;
  return r.data;
});
check(ids.length === stored && total === stored && new Set(ids).size === stored, `urql: paged through ${stored} activities`, ids.length);

console.log('subscribing'); // server/clients_test.go starts making changes
const got = await new Promise((resolve, reject) => {
  const seen = [];
  const { unsubscribe } = client.subscription(changedSubscription, {}).subscribe((r) => {
    if (r.error) { unsubscribe(); reject(r.error); return; }
    seen.push(r.data.activityChanged);
    if (seen.length === 2) { unsubscribe(); resolve(seen); }
  });
});
check(got.every((c) => c.type === 'CREATED' && c.activity.subject), 'urql: two changes over graphql-ws', got);

const bad = new Client({ url, exchanges: [fetchExchange], fetchOptions: { headers: { Authorization: 'Bearer tak_aaaaaaaaaaaaaaaa_' + 'A'.repeat(43) } } });
const refused = await bad.query(viewerQuery, {}).toPromise();
check(refused.error && refused.error.message.includes('unknown API key'), 'urql: a bad key says why', refused.error?.message);
await ws.dispose();
