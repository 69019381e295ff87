// Package store keeps teamaccess's data in MongoDB through the official Go driver (v2).
//
// With no MongoDB URI configured, Open starts an embedded FerretDB on SQLite inside the data
// directory and connects to it over the MongoDB wire protocol, so demos, tests and production
// share one code path. The embedded engine scans whole collections on every query, which is why
// it is meant for demos, tests and trials only; real tenants belong on MongoDB (or FerretDB on
// PostgreSQL).
//
// Everything here stays inside the subset of MongoDB that FerretDB v1 implements: CRUD,
// unique and compound indexes, findOneAndUpdate, bulk writes and $sum. No transactions, TTL
// indexes, partial indexes or change streams: expiry is done by scheduled jobs.
package store
