// Package api owns the wire types of patchbay's HTTP API (/api/v1): what the
// server, the CLI and the agent exchange, the stable error codes, the
// action idempotency keys, and the OpenAPI 3.0 description of the API
// (openapi.yaml, embedded as OpenAPI).
//
// Reports themselves travel in engine/inventory's wire format; this package
// adds the summary form an agent sends first (a report without its package
// list, carrying the package-set hash).
//
// The agent links this package: it may import engine/inventory and the
// standard library only; it must not import baseline, plan, store, server,
// CUE, OPA or go-github.
package api
