// Package server owns patchbay's HTTP API (/api/v1, described in
// engine/api/openapi.yaml): host enrollment, hash-first host reports,
// assignments and action results for agents; the fleet plan and host views
// for admins; /healthz, /readyz and /metrics. It also keeps the patch
// repository model current (Source, Reloader) and a host's plan snapshot
// after every report.
//
// Handlers are thin: authenticate (before reading any body), bound the body,
// decode once, call the engine (inventory, plan, store), and map typed
// errors to status codes and stable JSON error codes (api.Code*); internal
// error text goes to the log only. A report is acknowledged only after the
// store has committed it.
//
// # Report protocol
//
// PUT /api/v1/hosts/{id}/report with Content-Type
// application/vnd.patchbay.report-summary+json carries an api.ReportSummary:
// the report without its packages, naming its package-set hash. When the
// server holds that set, it stores the report and answers 200 api.ReportAck.
// Otherwise it stores nothing and answers 409 with code need_packages
// ("needPackages": true); the agent then sends the same report in full with
// Content-Type application/json (engine/inventory's wire format, decoded with
// inventory.Decoder and its limits), which is stored with its set and
// answered 200. The server computes the hash of a full report itself; it
// never trusts a hash it has not seen the packages of.
//
// Assignments come from an Assigner; the default (PlanAssigner) assigns
// every action of the host's current plan. The rollout controller replaces
// it to add waves and windows.
//
// server may import api, audit (to read and check the records a rollout
// page shows), baseline, history, inventory, notify, plan, rollout, store,
// gitrepo and vercmp; it must not import cmd, OPA or go-github.
package server
