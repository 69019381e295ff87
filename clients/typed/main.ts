// A typed client: the operations below are checked against the schema by graphql-codegen's
// client preset, and their results are TypeScript types, so a renamed or retyped field fails
// the build (tsc) before it fails a partner's frontend.
import { Client, fetchExchange } from '@urql/core';
import { graphql } from './gql/index.js';
import type { TypedActivitiesQuery } from './gql/graphql.js';

const Activities = graphql(`
  query TypedActivities($first: Int!, $after: String) {
    activities(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id kind occurredAt subject mailbox { displayName } } }
    }
  }
`);

const url = `${process.env.TEAMACCESS_URL}/graphql`;
const client = new Client({
  url,
  exchanges: [fetchExchange],
  fetchOptions: { headers: { Authorization: `Bearer ${process.env.TEAMACCESS_KEY}` } },
});

let after: string | null = null;
const subjects: string[] = [];
for (let page = 0; page < 100; page++) {
  const r = await client.query(Activities, { first: 5, after }).toPromise();
  if (r.error || !r.data) throw new Error(`typed: ${r.error?.message}`);
  const conn: TypedActivitiesQuery['activities'] = r.data.activities; // the fields asked for, typed
  for (const e of conn.edges) subjects.push(`${e.node.kind} ${e.node.subject ?? ''} (${e.node.mailbox?.displayName ?? 'no mailbox'})`);
  if (!conn.pageInfo.hasNextPage) break;
  after = conn.pageInfo.endCursor ?? null;
}
const want = Number(process.env.TEAMACCESS_ACTIVITIES);
if (subjects.length !== want) throw new Error(`typed: paged ${subjects.length} activities, want ${want}`);
console.log(`ok typed (graphql-codegen): paged through ${subjects.length} activities, first: ${subjects[0]}`);
