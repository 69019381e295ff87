// Apollo Client 4 as a frontend uses it: queries over HTTP, pages, a subscription over
// graphql-ws (GraphQLWsLink), and the error a bad key gets ("unknown API key", not "Received
// status code 401").
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient as createWSClient } from 'graphql-ws';
import { check, changedSubscription, key, pageAll, pageQuery, stored, url, viewerQuery, WebSocket, wsUrl } from './common.mjs';

const ws = createWSClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${key}` }, lazy: true });
const link = ApolloLink.split(
  ({ query }) => { const d = getMainDefinition(query); return d.kind === 'OperationDefinition' && d.operation === 'subscription'; },
  new GraphQLWsLink(ws),
  new HttpLink({ uri: url, headers: { Authorization: `Bearer ${key}` } }),
);
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const viewer = await client.query({ query: gql(viewerQuery), fetchPolicy: 'network-only' });
check(viewer.data.viewer.role === 'ADMIN', 'apollo: viewer over HTTP', viewer.error?.message);

const { ids, total } = await pageAll(async (variables) =>
  (await client.query({ query: gql(pageQuery), variables, fetchPolicy: 'no-cache' })).data);
check(ids.length === stored && total === stored, `apollo: paged through ${stored} activities`, ids.length);

console.log('subscribing'); // server/clients_test.go starts making changes
const got = await new Promise((resolve, reject) => {
  const seen = [];
  const sub = client.subscribe({ query: gql(changedSubscription) }).subscribe({
    next: (r) => {
      if (r.error) { sub.unsubscribe(); reject(r.error); return; }
      seen.push(r.data.activityChanged);
      if (seen.length === 2) { sub.unsubscribe(); resolve(seen); }
    },
    error: reject,
  });
});
check(got.every((c) => c.type === 'CREATED'), 'apollo: two changes over graphql-ws', got);

const bad = new ApolloClient({ link: new HttpLink({ uri: url, headers: { Authorization: 'Bearer tak_aaaaaaaaaaaaaaaa_' + 'A'.repeat(43) } }), cache: new InMemoryCache() });
let message = '';
try {
  const r = await bad.query({ query: gql(viewerQuery), fetchPolicy: 'network-only' });
  message = r.error?.message ?? '';
} catch (e) {
  message = e.message;
}
check(message.includes('unknown API key'), 'apollo: a bad key says why', message);
await ws.dispose();
