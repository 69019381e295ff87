// The schema-change check. schema/snapshot.graphql is the published contract; the schema is
// schema/*.graphqls. `node schema.mjs check` classifies every difference with GraphQL
// Inspector (breaking, dangerous, safe) and fails on a breaking one, unless it removes what the
// snapshot had already deprecated (the README's deprecation policy). `node schema.mjs accept`
// writes the snapshot. `node schema.mjs self-test` shows the check failing on a deliberate
// breaking change and passing a removal after deprecation.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, Kind, parse, print, printSchema, visit } from 'graphql';
import { diff, DiffRule, CriticalityLevel } from '@graphql-inspector/core';

const schemaDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema');
const snapshotPath = join(schemaDir, 'snapshot.graphql');

function currentSDL() {
  const files = readdirSync(schemaDir).filter((f) => f.endsWith('.graphqls')).sort();
  return printSchema(buildSchema(files.map((f) => readFileSync(join(schemaDir, f), 'utf8')).join('\n')));
}

// classify returns the changes from oldSDL to newSDL and whether any is breaking.
export async function classify(oldSDL, newSDL) {
  const changes = await diff(buildSchema(oldSDL), buildSchema(newSDL), [DiffRule.suppressRemovalOfDeprecatedField]);
  return { changes, breaking: changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking) };
}

// editField rewrites one field definition of a type in an SDL document.
function editField(sdl, typeName, fieldName, edit) {
  let found = false;
  const out = print(visit(parse(sdl), {
    ObjectTypeDefinition(node) {
      if (node.name.value !== typeName) return undefined;
      return { ...node, fields: node.fields.flatMap((f) => {
        if (f.name.value !== fieldName) return [f];
        found = true;
        return [edit(f)].flat().filter(Boolean);
      }) };
    },
  }));
  if (!found) throw new Error(`self-test: ${typeName}.${fieldName} is not in the schema`);
  return out;
}

function report({ changes, breaking }) {
  for (const c of changes) console.log(`${c.criticality.level.padEnd(13)} ${c.message}`);
  console.log(`${changes.length} changes against schema/snapshot.graphql, ${breaking.length} breaking`);
}

const command = process.argv[2];
if (command === 'accept') {
  writeFileSync(snapshotPath, currentSDL());
  console.log('wrote schema/snapshot.graphql');
} else if (command === 'check') {
  const result = await classify(readFileSync(snapshotPath, 'utf8'), currentSDL());
  report(result);
  if (result.breaking.length > 0) {
    console.error('breaking changes: deprecate first (@deprecated(reason: ...)), remove in a later release; see the README');
    process.exit(1);
  }
} else if (command === 'self-test') {
  const sdl = currentSDL();
  // Removing a field nobody was warned about is breaking.
  const removed = editField(sdl, 'Query', 'activity', () => null);
  const broken = await classify(sdl, removed);
  if (broken.breaking.length !== 1 || !broken.breaking[0].message.includes("'activity' was removed")) {
    throw new Error('self-test: removing Query.activity was not reported breaking: ' + JSON.stringify(broken.changes));
  }
  // Making an argument required is breaking.
  const retyped = editField(sdl, 'Query', 'activities', (f) => ({
    ...f, arguments: [...f.arguments, { kind: Kind.INPUT_VALUE_DEFINITION, name: { kind: Kind.NAME, value: 'region' },
      type: { kind: Kind.NON_NULL_TYPE, type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'String' } } } }],
  }));
  if ((await classify(sdl, retyped)).breaking.length === 0) throw new Error('self-test: a new required argument was not breaking');
  // Removing it after a release that deprecated it is not.
  const deprecated = editField(sdl, 'Query', 'activity', (f) => ({
    ...f, directives: [{ kind: Kind.DIRECTIVE, name: { kind: Kind.NAME, value: 'deprecated' }, arguments: [] }],
  }));
  if ((await classify(deprecated, removed)).breaking.length !== 0) throw new Error('self-test: removal after deprecation was reported breaking');
  // Adding an optional field is safe.
  const added = editField(sdl, 'Query', 'activity', (f) => [f, { ...f, name: { kind: Kind.NAME, value: 'activityByAnyId' } }]);
  const safe = await classify(sdl, added);
  if (safe.breaking.length !== 0 || safe.changes.length === 0) throw new Error('self-test: an added field was not safe: ' + JSON.stringify(safe.changes));
  console.log('self-test: a removed field and a new required argument are breaking; removal after deprecation and an added field are not');
} else {
  console.error('usage: node schema.mjs check | accept | self-test');
  process.exit(2);
}
