package inventory

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// Fleet holds many reports as a struct of arrays: one slice per field,
// short repeated strings (stream, ecosystem, arch, kernel, agent version)
// and label sets interned, package sets shared. A million hosts cost about
// a hundred bytes each plus their distinct package sets, where a million
// *Report values with their own label maps cost several times that.
//
// A Fleet is built by Add (or FleetOf) and then only read; reading is safe
// for concurrent use, building is not. The values it returns are shared:
// callers must not modify them.
type Fleet struct {
	// reports, when set, holds the hosts instead of the slices below
	// (FleetOf).
	reports []*Report

	ids, hostnames []string
	stream, eco    []uint32 // into strs
	arch, kernel   []uint32
	agent          []uint32
	labels         []uint32 // into labelSets
	collected      []time.Time
	reboot         []bool
	sets           []*PackageSet

	strs      []string
	strIndex  map[string]uint32
	labelSets []map[string]string
	labelKey  map[string]uint32
}

// NewFleet returns an empty fleet with room for n hosts.
func NewFleet(n int) *Fleet {
	return &Fleet{
		ids: make([]string, 0, n), hostnames: make([]string, 0, n),
		stream: make([]uint32, 0, n), eco: make([]uint32, 0, n), arch: make([]uint32, 0, n),
		kernel: make([]uint32, 0, n), agent: make([]uint32, 0, n), labels: make([]uint32, 0, n),
		collected: make([]time.Time, 0, n), reboot: make([]bool, 0, n), sets: make([]*PackageSet, 0, n),
		strIndex: map[string]uint32{}, labelKey: map[string]uint32{},
	}
}

// FleetOf presents reports as a Fleet without copying them: it costs
// nothing, and saves nothing. Each report counts as its own label set.
func FleetOf(reports []*Report) *Fleet {
	return &Fleet{reports: reports}
}

// Add appends a report. Equal label sets are stored once. Add on a fleet
// made by FleetOf panics.
func (f *Fleet) Add(r *Report) {
	if f.reports != nil {
		panic("inventory: Add on a Fleet made by FleetOf")
	}
	f.add(r, f.labelSet(r.Labels))
}

func (f *Fleet) add(r *Report, labels uint32) {
	f.ids = append(f.ids, r.HostID)
	f.hostnames = append(f.hostnames, r.Hostname)
	f.stream = append(f.stream, f.str(r.Stream))
	f.eco = append(f.eco, f.str(string(r.Ecosystem)))
	f.arch = append(f.arch, f.str(r.Arch))
	f.kernel = append(f.kernel, f.str(r.Kernel))
	f.agent = append(f.agent, f.str(r.AgentVersion))
	f.labels = append(f.labels, labels)
	f.collected = append(f.collected, r.CollectedAt)
	f.reboot = append(f.reboot, r.RebootRequired)
	f.sets = append(f.sets, r.Packages)
}

func (f *Fleet) str(s string) uint32 {
	if i, ok := f.strIndex[s]; ok {
		return i
	}
	i := uint32(len(f.strs))
	f.strs = append(f.strs, s)
	f.strIndex[s] = i
	return i
}

func (f *Fleet) labelSet(m map[string]string) uint32 {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	if i, ok := f.labelKey[b.String()]; ok {
		return i
	}
	i := uint32(len(f.labelSets))
	f.labelSets = append(f.labelSets, m)
	f.labelKey[b.String()] = i
	return i
}

// Sort orders the hosts by host ID (stably), the order a plan lists them
// in, so that planning need not sort them again.
func (f *Fleet) Sort() {
	if f.reports != nil {
		if !slices.IsSortedFunc(f.reports, compareHostID) {
			f.reports = slices.Clone(f.reports)
			slices.SortStableFunc(f.reports, compareHostID)
		}
		return
	}
	if slices.IsSorted(f.ids) {
		return
	}
	idx := make([]int, len(f.ids))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(f.ids[a], f.ids[b]) })
	f.ids = permute(f.ids, idx)
	f.hostnames = permute(f.hostnames, idx)
	f.stream = permute(f.stream, idx)
	f.eco = permute(f.eco, idx)
	f.arch = permute(f.arch, idx)
	f.kernel = permute(f.kernel, idx)
	f.agent = permute(f.agent, idx)
	f.labels = permute(f.labels, idx)
	f.collected = permute(f.collected, idx)
	f.reboot = permute(f.reboot, idx)
	f.sets = permute(f.sets, idx)
}

func permute[T any](s []T, idx []int) []T {
	out := make([]T, len(s))
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}

func compareHostID(a, b *Report) int { return cmp.Compare(a.HostID, b.HostID) }

// Len returns the number of hosts.
func (f *Fleet) Len() int {
	if f.reports != nil {
		return len(f.reports)
	}
	return len(f.ids)
}

// HostID returns host i's ID.
func (f *Fleet) HostID(i int) string {
	if f.reports != nil {
		return f.reports[i].HostID
	}
	return f.ids[i]
}

// Hostname returns host i's name.
func (f *Fleet) Hostname(i int) string {
	if f.reports != nil {
		return f.reports[i].Hostname
	}
	return f.hostnames[i]
}

// Stream returns host i's stream.
func (f *Fleet) Stream(i int) string {
	if f.reports != nil {
		return f.reports[i].Stream
	}
	return f.strs[f.stream[i]]
}

// Labels returns host i's labels (shared).
func (f *Fleet) Labels(i int) map[string]string {
	if f.reports != nil {
		return f.reports[i].Labels
	}
	return f.labelSets[f.labels[i]]
}

// LabelSet returns the index of host i's label set: hosts with the same
// index have the same labels (hosts with equal labels may have different
// indexes).
func (f *Fleet) LabelSet(i int) int {
	if f.reports != nil {
		return i
	}
	return int(f.labels[i])
}

// LabelSets returns the number of label set indexes.
func (f *Fleet) LabelSets() int {
	if f.reports != nil {
		return len(f.reports)
	}
	return len(f.labelSets)
}

// CollectedAt returns when host i's report was collected.
func (f *Fleet) CollectedAt(i int) time.Time {
	if f.reports != nil {
		return f.reports[i].CollectedAt
	}
	return f.collected[i]
}

// RebootRequired reports whether host i must reboot.
func (f *Fleet) RebootRequired(i int) bool {
	if f.reports != nil {
		return f.reports[i].RebootRequired
	}
	return f.reboot[i]
}

// Packages returns host i's package set (shared).
func (f *Fleet) Packages(i int) *PackageSet {
	if f.reports != nil {
		return f.reports[i].Packages
	}
	return f.sets[i]
}

// Report returns host i as a Report. Its labels and package set are shared.
func (f *Fleet) Report(i int) *Report {
	if f.reports != nil {
		return f.reports[i]
	}
	return &Report{
		HostID: f.ids[i], Hostname: f.hostnames[i], Stream: f.strs[f.stream[i]],
		Ecosystem: vercmp.Ecosystem(f.strs[f.eco[i]]), Labels: f.labelSets[f.labels[i]],
		Arch: f.strs[f.arch[i]], Kernel: f.strs[f.kernel[i]], RebootRequired: f.reboot[i],
		CollectedAt: f.collected[i], AgentVersion: f.strs[f.agent[i]], Packages: f.sets[i],
	}
}
