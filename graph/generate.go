// Package graph holds the GraphQL executable schema and models that gqlgen generates from
// the SDL in schema/. Nothing here is written by hand except this file: change the schema
// and run `go generate ./...`.
package graph

//go:generate sh -c "cd .. && go tool gqlgen generate --config gqlgen.yml"
