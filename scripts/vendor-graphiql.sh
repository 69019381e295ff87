#!/usr/bin/env bash
# Refreshes the GraphiQL page's assets in server/graphiql/ from the npm registry. They are
# committed, gzipped, so that neither the build nor the page needs the network.
set -euo pipefail
GRAPHIQL=${GRAPHIQL:-3.8.3}
REACT=${REACT:-18.3.1}
dest=$(cd "$(dirname "$0")/../server/graphiql" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null
for f in *.tgz; do mkdir "${f%.tgz}"; tar xzf "$f" -C "${f%.tgz}"; done
cp "graphiql-$GRAPHIQL/package/graphiql.min.js" "graphiql-$GRAPHIQL/package/graphiql.min.css" \
   "react-$REACT/package/umd/react.production.min.js" \
   "react-dom-$REACT/package/umd/react-dom.production.min.js" .
gzip -9 -n ./*.min.js ./*.min.css
mv ./*.gz "$dest/"
{
  echo "graphiql $GRAPHIQL:"; cat "graphiql-$GRAPHIQL/package/LICENSE"; echo
  echo "react $REACT and react-dom $REACT:"; cat "react-$REACT/package/LICENSE"
} > "$dest/THIRD_PARTY_LICENSES.txt"
echo "vendored graphiql $GRAPHIQL and react $REACT into $dest"
