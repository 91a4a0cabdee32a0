// Package inventory owns host reports: what one host says it has installed.
//
// It defines the [Report] type and its JSON wire format, decodes reports
// once at the edge with size and count limits ([Decoder]), validates them
// (versions through engine/vercmp, required fields, stream format, package
// order), parses the package databases hosts keep (dpkg status, rpm query
// output, Alpine's installed db, osquery JSON results), collects the local
// machine's report from a root directory ([Collect]), streams reports
// from JSON-lines files and directories ([ReadPath]), and writes and reads
// many reports as one compact binary bulk file ([WriteBulk], [ReadBulk]).
//
// A decoded Report is trusted downstream: the planner does not validate it
// again. Reports with identical package lists share one immutable
// [PackageSet] through a [SetCache], so a planner that holds 100,000 hosts
// but 1,000 distinct package sets holds 1,000 package lists.
//
// # Wire format
//
// A report is one JSON object (schemas/report.cue, definition #Report):
//
//	{
//	  "hostId": "web-01",                    required; [A-Za-z0-9][A-Za-z0-9._:@-]*, at most 253 bytes
//	  "hostname": "web-01.example.org",      optional
//	  "stream": "debian-12",                 required; <os id>-<version>, see StreamFromOSRelease
//	  "ecosystem": "deb",                    required; deb | rpm | apk
//	  "labels": {"team": "payments"},        optional; at most 64
//	  "arch": "amd64",                       optional; the host's architecture
//	  "kernel": "6.1.0-28-amd64",            optional; the running kernel (uname -r)
//	  "rebootRequired": false,               required
//	  "collectedAt": "2026-11-26T09:00:00Z", required; RFC 3339
//	  "agentVersion": "patchbay 1.2.0",      optional
//	  "packageSetHash": "sha256:…",          optional on input (checked when present), always written
//	  "packages": [                          required; 1 to 100,000 entries
//	    {"name": "bsdutils", "version": "1:2.38.1-5+deb12u3", "arch": "amd64",
//	     "sourceName": "util-linux", "sourceVersion": "2.38.1-5+deb12u3"}
//	  ]
//	}
//
// Unknown fields, duplicate keys and null values are refused. A package's
// sourceName and sourceVersion default to its name and version when absent.
// Packages may arrive in any order; they are kept sorted by name, arch,
// version (byte order), and two entries with the same name, arch and version
// are refused.
//
// # Package-set hash
//
// The package-set hash is "sha256:" followed by the lowercase hex SHA-256 of
// the canonical form: the line "patchbay-packages-v1 <ecosystem>\n", then for
// each package in sorted order (name, then arch, then version, compared as
// bytes) the line
//
//	<name> TAB <version> TAB <arch> TAB <sourceName> TAB <sourceVersion> LF
//
// with the source fields resolved (never empty). No field may contain a
// byte below 0x21 or above 0x7e, so the form is unambiguous.
//
// inventory imports engine/vercmp and the standard library only; it must not
// import other patchbay packages, CUE, OPA or go-github (the agent links it).
package inventory
