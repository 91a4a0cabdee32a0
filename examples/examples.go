// Package examples embeds the example patch repositories so that the
// patchbay binary can run its demo and generate fleets without a checkout.
// Every example is also loaded by tests.
package examples

import "embed"

// Quickstart is examples/quickstart: a complete patch repository with an
// example inventory (quickstart/inventory).
//
//go:embed quickstart
var Quickstart embed.FS
