// The GraphQL over HTTP specification's own audit (graphql-http's auditServer), with the API
// key from TEAMACCESS_KEY added to every request. Fails on any error or warning.
import { auditServer } from 'graphql-http';

const url = `${process.env.TEAMACCESS_URL}/graphql`;
const key = process.env.TEAMACCESS_KEY;
const results = await auditServer({
  url,
  fetchFn: (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${key}`);
    return fetch(input, { ...init, headers });
  },
});
let bad = 0;
for (const r of results) {
  if (r.status === 'ok') continue;
  bad++;
  console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}`);
  if (r.response) {
    const body = await r.response.text();
    console.log(`  ${r.response.status} ${r.response.headers.get('content-type')} ${body.slice(0, 300)}`);
  }
}
console.log(`graphql-http audit: ${results.length} checks, ${results.length - bad} ok, ${bad} not`);
process.exit(bad === 0 ? 0 : 1);
