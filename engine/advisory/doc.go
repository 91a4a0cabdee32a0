// Package advisory reads security advisory feeds, matches them to the
// package sets hosts report, ranks what applies by risk, and writes the fixes
// as a proposed baseline.
//
// One model (Advisory, Affected) is read from real feeds, one file per format:
// OSV records (osv.go; Debian, Ubuntu, Alpine, AlmaLinux, Rocky, Red Hat),
// the Debian security tracker JSON and the parsed data/CVE/list records
// (debian.go), Alpine secdb (alpine.go), the CISA KEV catalogue (kev.go) and
// FIRST EPSS scores (epss.go). Every parser is size-bounded and positioned:
// a syntax error names file:line:col, a semantic one the record path.
// Detect recognises a feed file by its content.
//
// Matching (match.go) judges each affected entry on the package the feed
// speaks of: the source package and its version for Debian and Ubuntu, the
// binary RPM name for the Red Hat family, the aport (apk origin) for Alpine,
// always against the distribution's own fixed version with engine/vercmp, so
// backported fixes count as fixed. "Not affected", "fixed", "affected with a
// fix available", "no fix available yet" and "will not fix" are distinct
// verdicts. Identical package sets are judged once.
//
// Ranking (rank.go) is a pure function of the matches, the KEV and EPSS
// data, the hosts' rings and the clock; every score lists its inputs.
//
// The cache (cache.go, sync.go) keeps fetched feed files in a directory with
// conditional requests and atomic replacement. Propose (propose.go) writes
// the matched fixes as a baseline CUE file.
//
// osv-schema.json is the official OSV JSON schema, copied verbatim from
// github.com/ossf/osv-schema (validation/schema.json, Apache-2.0).
//
// The package imports vercmp, inventory and baseline; it must never import
// rollout, server or anything that knows of rollouts.
package advisory
