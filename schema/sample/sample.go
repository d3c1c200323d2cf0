// Package sample holds walhook's bundled sample CRM: a small Pipeliner-like PostgreSQL
// schema with seed data, and the mapping that describes it. The demo loads it, the tests
// run against it, and the README uses it as the example of the mapping format.
//
// Both files are plain text embedded at build time; this package has no dependencies, so
// every other package (mapping, tests, the demo) can import it.
package sample

import _ "embed"

// CRMSQL creates the schema "crm" with its tables and seed data. It can be run with psql
// or sent as one multi-statement simple-protocol query; it is not idempotent (run it on a
// database without a "crm" schema). Seed rows use fixed UUIDs and identity values, so
// tests can refer to them.
//
//go:embed crm.sql
var CRMSQL string

// MappingYAML is the walhook mapping of the sample CRM; its leading comment documents the
// mapping format. mapping.Default parses it.
//
//go:embed mapping.yaml
var MappingYAML []byte
