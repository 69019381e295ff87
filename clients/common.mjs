// What every client script shares: the server from the environment, and checks that fail loudly.
import WebSocket from 'ws';

export const url = `${process.env.TEAMACCESS_URL}/graphql`;
export const wsUrl = url.replace(/^http/, 'ws');
export const key = process.env.TEAMACCESS_KEY;
// How many activities the server holds when the script starts, and how many changes it will
// make while the script is subscribed (server/clients_test.go).
export const stored = Number(process.env.TEAMACCESS_ACTIVITIES);
export { WebSocket };

export function check(ok, what, got) {
  if (!ok) {
    console.error(`FAIL ${what}${got === undefined ? '' : `: got ${JSON.stringify(got)}`}`);
    process.exit(1);
  }
  console.log(`ok ${what}`);
}

export const viewerQuery = 'query Viewer { viewer { role organization { name } } }';
export const pageQuery = `query Page($after: String) {
  activities(first: 5, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id subject occurredAt } } }
}`;
export const changedSubscription = 'subscription Changed { activityChanged { type cursor activity { id subject } } }';

// pageAll pages through every activity with query(variables) => data, and returns the ids.
export async function pageAll(query) {
  const ids = [];
  let after = null;
  for (let i = 0; i < 100; i++) { // bounded: 100 pages of 5
    const data = await query({ after });
    for (const e of data.activities.edges) ids.push(e.node.id);
    if (!data.activities.pageInfo.hasNextPage) return { ids, total: data.activities.totalCount };
    after = data.activities.pageInfo.endCursor;
  }
  throw new Error('more than 100 pages');
}

// Stop a script that hangs: the Go test waits for it.
setTimeout(() => { console.error('FAIL timed out'); process.exit(1); }, 60_000).unref();
