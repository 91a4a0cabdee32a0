package plan

import (
	"encoding/json"
	"iter"
	"reflect"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
)

// Hosts are a plan's hosts, in host ID order for a computed plan.
//
// A computed plan does not hold one Host value per host: it keeps a small
// record per host (about a third of a Host, with a third of its pointers)
// whose ring, baseline, results and actions are shared with the other
// hosts that have the same, and At builds the Host on demand. A plan of
// 100,000 hosts holds 10 MB of records instead of 27 MB of Host values
// that the garbage collector would scan on every cycle (issue 18).
//
// The zero value has no hosts and encodes as JSON null; HostsOf wraps a
// slice, e.g. for a plan made by hand. Hosts are read-only: At returns a
// copy whose slices are shared with other hosts and must not be changed.
type Hosts struct {
	// list holds the hosts of HostsOf and of a decoded plan.
	list []Host
	// recs and tab hold the hosts of a computed plan.
	recs []hostRec
	tab  *hostTables
}

// hostRec is one host of a computed plan.
type hostRec struct {
	id, hostname, stream, set string
	// ov holds the results, actions, risk and next deadline; nil when the
	// host has no computation (its results and actions are empty).
	ov *overlaid
	// sec and nsec are the report's collection time (ReportedAt, in UTC).
	sec  int64
	nsec int32
	// ring indexes hostTables.rings; -1 for none.
	ring int32
	// cand keys hostTables.cands: the candidate rings of an AMBIGUOUS
	// host; -1 for none.
	cand   int32
	status uint8 // statusCodes
	stale  bool
	reboot bool
}

// hostTables are what a computed plan's host records share.
type hostTables struct {
	rings []ringInfo
	cands map[int32][]string
	// index finds a ring's place in rings while the plan is computed.
	index map[*baseline.Ring]int32
}

// ringInfo is a ring with the baseline it pins.
type ringInfo struct {
	name, baseline, digest string
}

// statusCodes are the values of hostRec.status: 0 is no status.
var statusCodes = func() [len(HostStatuses) + 1]HostStatus {
	var c [len(HostStatuses) + 1]HostStatus
	copy(c[1:], HostStatuses[:])
	return c
}()

// statusCode is s's hostRec.status.
func statusCode(s HostStatus) uint8 {
	if s == "" {
		return 0
	}
	return uint8(statusIndex(s) + 1)
}

// HostsOf returns hosts holding hs (not a copy). A nil slice is no hosts
// (JSON null), an empty one is no hosts (JSON []).
func HostsOf(hs []Host) Hosts { return Hosts{list: hs} }

// Len is the number of hosts.
func (hs Hosts) Len() int {
	if hs.tab != nil {
		return len(hs.recs)
	}
	return len(hs.list)
}

// At returns host i (0 <= i < Len). Its slices are shared: do not change
// them.
func (hs Hosts) At(i int) Host {
	if hs.tab == nil {
		return hs.list[i]
	}
	r := &hs.recs[i]
	h := Host{
		ID: r.id, Hostname: r.hostname, Stream: r.stream, PackageSet: r.set,
		Status: statusCodes[r.status], Stale: r.stale, RebootRequired: r.reboot,
		ReportedAt: time.Unix(r.sec, int64(r.nsec)).UTC(),
	}
	if r.ring >= 0 {
		ri := &hs.tab.rings[r.ring]
		h.Ring, h.Baseline, h.BaselineDigest = ri.name, ri.baseline, ri.digest
	}
	if r.cand >= 0 {
		h.Candidates = hs.tab.cands[r.cand]
	}
	if r.ov != nil {
		h.Results, h.Actions, h.Risk, h.NextDeadline = r.ov.results, r.ov.actions, r.ov.risk, r.ov.next
	}
	if h.Results == nil {
		h.Results = []Result{}
	}
	if h.Actions == nil {
		h.Actions = []Action{}
	}
	return h
}

// All yields every host with its index, in order.
func (hs Hosts) All() iter.Seq2[int, Host] {
	return func(yield func(int, Host) bool) {
		for i := range hs.Len() {
			if !yield(i, hs.At(i)) {
				return
			}
		}
	}
}

// Slice returns the hosts as a new slice of Host values (nil for no hosts
// that encode as null). For small plans and tests: a large plan's hosts
// are cheaper read one at a time with At or All.
func (hs Hosts) Slice() []Host {
	if hs.tab == nil {
		if hs.list == nil {
			return nil
		}
		return append([]Host{}, hs.list...)
	}
	out := make([]Host, hs.Len())
	for i := range out {
		out[i] = hs.At(i)
	}
	return out
}

// id is host i's ID without building the Host.
func (hs Hosts) id(i int) string {
	if hs.tab == nil {
		return hs.list[i].ID
	}
	return hs.recs[i].id
}

// IsNull reports whether the hosts encode as JSON null (the zero value, or
// HostsOf a nil slice); a computed plan's hosts never do.
func (hs Hosts) IsNull() bool { return hs.tab == nil && hs.list == nil }

// Equal reports whether both hold the same hosts (go-cmp uses it).
func (hs Hosts) Equal(o Hosts) bool {
	if hs.IsNull() != o.IsNull() || hs.Len() != o.Len() {
		return false
	}
	for i := range hs.Len() {
		if !reflect.DeepEqual(hs.At(i), o.At(i)) {
			return false
		}
	}
	return true
}

// MarshalJSON encodes the hosts as a JSON array of Host.
func (hs Hosts) MarshalJSON() ([]byte, error) {
	if hs.IsNull() {
		return []byte("null"), nil
	}
	if hs.tab == nil {
		return json.Marshal(hs.list)
	}
	return json.Marshal(hs.Slice())
}

// UnmarshalJSON decodes a JSON array of Host.
func (hs *Hosts) UnmarshalJSON(b []byte) error {
	var list []Host
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*hs = Hosts{list: list}
	return nil
}
