package plan

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// sampleHosts bounds Finding.SampleHosts.
const sampleHosts = 20

// topMissing bounds RollUp.TopMissing.
const topMissing = 10

// setKey identifies one shared computation.
type setKey struct {
	hash, stream, ring string
}

// fastKey finds a computation by the shared set's identity before its hash.
type fastKey struct {
	set    *inventory.PackageSet
	stream string
	ring   *baseline.Ring
}

// setEval is the part of a host's plan that depends only on its package
// set, stream and ring. It is shared and never modified.
type setEval struct {
	results []Result
	// actions assume no pending reboot and no exception.
	actions []Action
}

type job struct {
	stream string
	ring   *baseline.Ring
	base   *baseline.Baseline
	eco    vercmp.Ecosystem
	set    *inventory.PackageSet
	ev     *setEval
	// canon is the computation this one was merged into (itself when it
	// is the first of its kind).
	canon *job
	// group is the first computation with the same ring, stream and
	// results (itself when it is the first): computations whose sets
	// differ only in packages no rule looks at share their overlays.
	group *job
	// plain is the overlay of hosts without a pending reboot and without
	// exceptions, made before the hosts' overlays and then only read.
	plain *overlaid
	// overlays memoises the other hosts' overlays by reboot flag and the
	// exceptions covering the host (see overlayer.apply); mu guards it.
	mu       sync.Mutex
	overlays map[string]*overlaid
}

// key identifies the job's computation across Compute calls.
func (j *job) key() setKey {
	return setKey{hash: j.set.Hash(), stream: j.stream, ring: j.ring.Name}
}

// Compute builds the plan. It never fails: problems with hosts are states.
//
// The per-host work runs on Options.Workers goroutines (0: GOMAXPROCS), each
// over a contiguous range of the hosts in ID order, in three phases: every
// worker fills its hosts and finds their rings and computations
// (deduplicated per worker, then merged in host order, so the computations
// are the ones a single pass would find, in the same order); the distinct
// computations run; every worker applies its hosts' overlays. The plan is
// the same for any number of workers.
func Compute(in Input, opts Options) *Plan {
	repo := in.Repo
	now := in.Now.UTC()
	p := &Plan{Now: now, Findings: []Finding{}, Hosts: HostsOf([]Host{})}
	for _, r := range repo.Rings {
		if b := repo.Baselines[r.Baseline]; b != nil {
			p.Baselines = append(p.Baselines, BaselineInfo{Ring: r.Name, ID: b.ID, Digest: b.Digest})
		}
	}
	f := in.Fleet
	if f == nil {
		f = inventory.FleetOf(in.Reports)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	// The hosts in ID order; a sorted fleet (as Fleet.Sort leaves it) is
	// not sorted again.
	order := make([]int32, 0, f.Len())
	for i := range f.Len() {
		if opts.Host == "" || f.HostID(i) == opts.Host {
			order = append(order, int32(i))
		}
	}
	// Equal IDs keep their input order (the index breaks the tie).
	byID := func(a, b int32) int {
		return cmp.Or(cmp.Compare(f.HostID(int(a)), f.HostID(int(b))), cmp.Compare(a, b))
	}
	if !slices.IsSortedFunc(order, byID) {
		slices.SortFunc(order, byID)
	}

	// Assign hosts to rings and collect the distinct computations, per
	// worker over its range of hosts.
	as := newAssigner(repo, f, order, workers)
	tab := newHostTables(repo, as)
	hosts := make([]hostRec, len(order))
	hostJobs := make([]*job, len(order))
	parts := make([][]*job, workers)
	n := forChunks(len(order), workers, func(w, lo, hi int) {
		parts[w] = assignHosts(repo, f, as, tab, opts, order, hosts, hostJobs, lo, hi)
	})

	// Merge the workers' computations in host order: the first host of a
	// computation names it, as in one pass.
	byHash := map[setKey]*job{}
	var jobs []*job
	for _, part := range parts[:n] {
		for _, j := range part {
			if !opts.NoDedupe {
				k := j.key()
				if c := byHash[k]; c != nil {
					j.canon = c
					continue
				}
				byHash[k] = j
			}
			j.canon = j
			jobs = append(jobs, j)
		}
	}

	// A ring filter drops the other rings' hosts (they made no computation).
	if opts.Ring != "" {
		kept := 0
		for k := range hosts {
			if hostJobs[k] == dropped {
				continue
			}
			if kept != k {
				hosts[kept], hostJobs[kept], order[kept] = hosts[k], hostJobs[k], order[k]
			}
			kept++
		}
		clear(hosts[kept:]) // nothing of a dropped host stays reachable
		if kept < len(hosts)/2 {
			hosts = slices.Clone(hosts[:kept]) // nor does its record
		}
		hosts, hostJobs, order = hosts[:kept], hostJobs[:kept], order[:kept]
	}

	todo := jobs
	if opts.Memo != nil {
		todo = nil
		for _, j := range jobs {
			if j.ev = opts.Memo.get(repo, j.key(), now); j.ev == nil {
				todo = append(todo, j)
			}
		}
	}
	var shared *evalIntern
	if !opts.NoDedupe {
		shared = &evalIntern{}
	}
	runJobs(todo, now, repo.Config.SLA, workers, shared)
	if opts.Memo != nil {
		for _, j := range todo {
			opts.Memo.put(repo, j.key(), now, j.ev)
		}
	}

	staleAfter := time.Duration(repo.Config.Reports.StaleAfter)
	ov := newOverlayer(repo, now)
	// Computations with equal results (the same *setEval, see evalIntern)
	// for the same ring and stream overlay alike: the first stands for all.
	type groupKey struct {
		ev     *setEval
		ring   *baseline.Ring
		stream string
	}
	first := make(map[groupKey]*job, len(jobs))
	var groups []*job
	for _, j := range jobs {
		k := groupKey{ev: j.ev, ring: j.ring, stream: j.stream}
		if g := first[k]; g != nil {
			j.group = g
			continue
		}
		first[k] = j
		j.group = j
		groups = append(groups, j)
	}
	first = nil
	// Most hosts have no pending reboot and no exception: their overlay is
	// made here, once per group, and read without a lock.
	forChunks(len(groups), workers, func(_, lo, hi int) {
		for _, j := range groups[lo:hi] {
			j.plain = overlay(j, false, nil)
		}
	})
	forChunks(len(hosts), workers, func(_, lo, hi int) {
		ov := ov.worker()
		for k := lo; k < hi; k++ {
			h := &hosts[k]
			if j := hostJobs[k]; j != nil {
				h.ov = ov.apply(h.id, h.stream, tab.rings[h.ring].name, j.canon.group, h.reboot)
				h.status = statusCode(h.ov.status)
			}
			if staleAfter > 0 && now.Sub(time.Unix(h.sec, int64(h.nsec))) > staleAfter {
				h.stale = true
				h.status = statusCode(Stale)
			}
		}
	})
	tab.index = nil
	p.Hosts = Hosts{recs: hosts, tab: tab}
	p.Stats = Stats{Hosts: len(hosts), Computations: len(jobs)}
	p.rollUp(repo, workers)
	return p
}

// dropped marks a host of another ring than Options.Ring.
var dropped = &job{}

// assignHosts fills hosts[lo:hi] (the fleet's hosts order[lo:hi]) with what
// the fleet says, finds their rings, and sets hostJobs[lo:hi] to their
// computations: nil for hosts without one, dropped for hosts another ring
// filter drops. It returns the distinct computations it made, in host
// order; equal ones of other workers are merged by the caller.
func assignHosts(repo *baseline.Repository, f *inventory.Fleet, as *assigner, tab *hostTables, opts Options, order []int32, hosts []hostRec, hostJobs []*job, lo, hi int) []*job {
	var jobs []*job
	byPtr := map[fastKey]*job{}
	for k := lo; k < hi; k++ {
		i := int(order[k])
		set := f.Packages(i)
		stream := f.Stream(i)
		at := f.CollectedAt(i)
		h := &hosts[k]
		*h = hostRec{id: f.HostID(i), hostname: f.Hostname(i), stream: stream, set: set.Hash(),
			sec: at.Unix(), nsec: int32(at.Nanosecond()), ring: -1, cand: -1, reboot: f.RebootRequired(i)}
		ring, candidates, labels := as.assign(k)
		ringName := ""
		switch {
		case len(candidates) > 1:
			h.status, h.cand = statusCode(Ambiguous), labels
		case ring == nil:
			h.status = statusCode(Unassigned)
		default:
			ringName = ring.Name
		}
		if opts.Ring != "" && ringName != opts.Ring {
			hostJobs[k] = dropped
			continue
		}
		if ringName == "" {
			continue
		}
		h.ring = tab.index[ring]
		eco, declared := repo.Ecosystem(stream)
		base := repo.Baselines[ring.Baseline]
		switch {
		case !declared:
			h.status = statusCode(UnknownStream)
		case base.Streams[stream] == nil:
			h.status = statusCode(Uncovered)
		case opts.NoDedupe:
			j := &job{stream: stream, ring: ring, base: base, eco: eco, set: set}
			jobs = append(jobs, j)
			hostJobs[k] = j
		default:
			fk := fastKey{set: set, stream: stream, ring: ring}
			j := byPtr[fk]
			if j == nil {
				j = &job{stream: stream, ring: ring, base: base, eco: eco, set: set}
				byPtr[fk] = j
				jobs = append(jobs, j)
			}
			hostJobs[k] = j
		}
	}
	return jobs
}

// minChunk is the fewest items a worker of forChunks is given; tests lower it.
var minChunk = 2048

// forChunks calls fn for contiguous chunks [lo, hi) that cover [0, n), at
// most one per worker and each of at least minChunk items, on their own
// goroutines when there are several. w numbers the chunks in order; it
// returns how many there were.
func forChunks(n, workers int, fn func(w, lo, hi int)) int {
	c := min(workers, (n+minChunk-1)/minChunk)
	if c <= 1 {
		fn(0, 0, n)
		return 1
	}
	var wg sync.WaitGroup
	for w := range c {
		lo, hi := n*w/c, n*(w+1)/c
		wg.Go(func() { fn(w, lo, hi) })
	}
	wg.Wait()
	return c
}

// assigner finds hosts' rings. It is made for one ordering of the hosts
// and then only read, so workers share it.
type assigner struct {
	f     *inventory.Fleet
	order []int32
	// byPos holds the hosts that a ring names by id, by position in order.
	byPos map[int32]*baseline.Ring
	// memo holds the ring per label set of the ordered hosts.
	memo []assignment
}

// selector is a ring's label selector as a list.
type selector struct {
	ring   *baseline.Ring
	labels [][2]string
}

type assignment struct {
	ring       *baseline.Ring
	candidates []string
}

// newAssigner finds the ring of every label set the hosts order (sorted by
// host id) use, on workers goroutines, and the positions of the hosts the
// rings name by id.
func newAssigner(repo *baseline.Repository, f *inventory.Fleet, order []int32, workers int) *assigner {
	a := &assigner{f: f, order: order, memo: make([]assignment, f.LabelSets())}
	var sel []selector
	for _, ring := range repo.Rings {
		if len(ring.Selector.Labels) == 0 {
			continue
		}
		s := selector{ring: ring}
		for _, k := range sortedKeys(ring.Selector.Labels) {
			s.labels = append(s.labels, [2]string{k, ring.Selector.Labels[k]})
		}
		sel = append(sel, s)
	}
	byHost := map[string]*baseline.Ring{}
	for _, ring := range repo.Rings {
		for _, h := range ring.Selector.Hosts {
			if _, ok := byHost[h]; !ok {
				byHost[h] = ring
			}
		}
	}
	// The hosts are sorted by id, so a named host's positions are found by
	// binary search instead of hashing every host's id.
	for id, ring := range byHost {
		k, _ := slices.BinarySearchFunc(order, id, func(i int32, id string) int { return cmp.Compare(f.HostID(int(i)), id) })
		for ; k < len(order) && f.HostID(int(order[k])) == id; k++ {
			if a.byPos == nil {
				a.byPos = map[int32]*baseline.Ring{}
			}
			a.byPos[int32(k)] = ring
		}
	}
	// One host per label set in use stands for the set.
	first := make([]int32, f.LabelSets())
	for i := range first {
		first[i] = -1
	}
	var used []int32
	for _, i := range order {
		if ls := f.LabelSet(int(i)); first[ls] < 0 {
			first[ls] = i
			used = append(used, int32(ls))
		}
	}
	forChunks(len(used), workers, func(_, lo, hi int) {
		for _, ls := range used[lo:hi] {
			m := &a.memo[ls]
			m.ring, m.candidates = assignByLabels(sel, f.Labels(int(first[ls])))
		}
	})
	return a
}

// assign finds the ring of the host at position k of the order: exact host
// ids first, then labels. It returns the candidate ring names when labels
// select more than one, and the host's label set. The candidates slice is
// shared by the hosts with the same labels.
func (a *assigner) assign(k int) (*baseline.Ring, []string, int32) {
	ls := a.f.LabelSet(int(a.order[k]))
	if a.byPos != nil {
		if r := a.byPos[int32(k)]; r != nil {
			return r, nil, int32(ls)
		}
	}
	m := &a.memo[ls]
	return m.ring, m.candidates, int32(ls)
}

// newHostTables makes the tables a computed plan's host records share:
// the rings with their baselines, and the candidate rings of the label
// sets that select several (by label set).
func newHostTables(repo *baseline.Repository, as *assigner) *hostTables {
	t := &hostTables{index: make(map[*baseline.Ring]int32, len(repo.Rings))}
	for _, r := range repo.Rings {
		ri := ringInfo{name: r.Name}
		if b := repo.Baselines[r.Baseline]; b != nil {
			ri.baseline, ri.digest = b.ID, b.Digest
		}
		t.index[r] = int32(len(t.rings))
		t.rings = append(t.rings, ri)
	}
	for ls, m := range as.memo {
		if len(m.candidates) > 1 {
			if t.cands == nil {
				t.cands = map[int32][]string{}
			}
			t.cands[int32(ls)] = m.candidates
		}
	}
	return t
}

// assignByLabels finds the one ring whose label selector matches, or
// the candidate ring names when several do.
func assignByLabels(sel []selector, labels map[string]string) (*baseline.Ring, []string) {
	var first *baseline.Ring
	var match []*baseline.Ring
	for _, s := range sel {
		ok := true
		for _, kv := range s.labels {
			if labels[kv[0]] != kv[1] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if first == nil {
			first = s.ring
			continue
		}
		if match == nil {
			match = append(match, first)
		}
		match = append(match, s.ring)
	}
	if match == nil {
		return first, nil
	}
	switch len(match) {
	case 0:
		return nil, nil
	case 1:
		return match[0], nil
	}
	names := make([]string, len(match))
	for i, m := range match {
		names[i] = m.Name
	}
	return nil, names
}

// runJobs evaluates the distinct computations on a bounded worker pool.
// Each worker keeps its own memo; shared, when set, lets computations with
// equal results share one *setEval.
func runJobs(jobs []*job, now time.Time, sla baseline.SLA, workers int, shared *evalIntern) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ch := make(chan *job, 64)
	var wg sync.WaitGroup
	for range min(workers, max(len(jobs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := newMemo()
			for j := range ch {
				j.ev = evalSet(j, now, sla, m, shared)
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

// evalIntern keeps one *setEval per evalKey, across the workers of one
// Compute: package sets that differ only in packages no rule of the
// stream looks at (in the benchmark fleet, 2,992 computations have 935
// distinct results) share their results, observations and actions,
// which stay in the plan.
type evalIntern struct {
	evals internMap[evalKey, *setEval]
	// obs shares the observations of one rule on the same packages
	// between computations whose results differ elsewhere.
	obs internMap[obsSliceKey, []Observed]
}

// internMap keeps the first value put for a key, for concurrent workers.
type internMap[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

func (x *internMap[K, V]) get(k K) V {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.m[k]
}

// put keeps v for k unless another worker kept one first, and returns the
// one kept.
func (x *internMap[K, V]) put(k K, v V) V {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.m[k]; ok {
		return old
	}
	if x.m == nil {
		x.m = map[K]V{}
	}
	x.m[k] = v
	return v
}

// obsSliceKey identifies the observations of one rule on a list of
// package ids (uvarints) of one table.
type obsSliceKey struct {
	rule   *baseline.Rule
	tab    *inventory.Table
	source bool
	ids    string
}

// evalKey is what evalSet's result depends on: the baseline (its rules,
// ID and creation date), the ring (actions follow its reboot policy), the
// stream (and so the ecosystem), and the package ids each rule looks at,
// in order, of one package table (an id names the same package in every
// set of a table). now and the SLA are the same for a whole Compute.
type evalKey struct {
	base   *baseline.Baseline
	ring   *baseline.Ring
	stream string
	tab    *inventory.Table
	// ids holds, per package rule, the number of its packages and their
	// ids, then per source-rule hit its rule index and id (uvarints).
	ids string
}

// memo remembers, across the sets one worker evaluates, what depends only
// on a rule and a package of a shared table: the observation (version
// comparisons) per (rule, package id), which source rule a package id
// falls under, a stream's sorted rule names, and a rule's deadline.
type memo struct {
	obs       map[obsKey]Observed
	sources   map[srcKey]*srcIndex
	names     map[*baseline.StreamRules][2][]string
	deadlines map[dlKey]dl
	// evidence remembers a result's evidence by its rule's name and its
	// worst observation (absent: id 0 of no table), so equal results of
	// different sets share one string.
	evidence map[evKey]evidence
	// hits is scratch space of evalSet: the packages of one set that fall
	// under a source rule.
	hits []srcHit
	// ranges and sig are scratch space of evalSet: the package rules'
	// ranges of ids, and the evalKey's ids.
	ranges [][2]int
	sig    []byte
	// srcIDs is scratch space of evalSet: the ids per source rule.
	srcIDs []uint32
}

type srcHit struct {
	rule int32
	id   uint32
}

type evKey struct {
	obsKey
	name string
}

type evidence struct {
	state State
	text  string
}

type obsKey struct {
	rule   *baseline.Rule
	tab    *inventory.Table
	id     uint32
	source bool
}

type srcKey struct {
	sr  *baseline.StreamRules
	tab *inventory.Table
}

// srcIndex maps package ids to the source rule they fall under: 0 not yet
// known, 1 none, k+2 the k-th name of the sorted source rules.
type srcIndex struct {
	rule []int32
}

type dlKey struct {
	b                  *baseline.Baseline
	stream, kind, name string
}

type dl struct {
	deadline time.Time
	by       string
}

func newMemo() *memo {
	return &memo{obs: map[obsKey]Observed{}, sources: map[srcKey]*srcIndex{},
		names: map[*baseline.StreamRules][2][]string{}, deadlines: map[dlKey]dl{}, evidence: map[evKey]evidence{}}
}

func (m *memo) ruleNames(sr *baseline.StreamRules) (pkgs, srcs []string) {
	n, ok := m.names[sr]
	if !ok {
		n = [2][]string{sortedKeys(sr.Packages), sortedKeys(sr.Sources)}
		m.names[sr] = n
	}
	return n[0], n[1]
}

// observe is observe, remembered per (rule, package id): source rules
// compare the package's source version, package rules its version.
func (m *memo) observe(eco vercmp.Ecosystem, r *baseline.Rule, set *inventory.PackageSet, id uint32, source bool) Observed {
	k := obsKey{rule: r, tab: set.Table(), id: id, source: source}
	if o, ok := m.obs[k]; ok {
		return o
	}
	p := set.Package(id)
	v := p.Version
	if source {
		v = p.SourceVersion
	}
	o := observe(eco, r, p, v)
	m.obs[k] = o
	return o
}

// sourceIndex returns the source-rule index of the stream's rules over the
// set's table.
func (m *memo) sourceIndex(sr *baseline.StreamRules, set *inventory.PackageSet) *srcIndex {
	k := srcKey{sr: sr, tab: set.Table()}
	x := m.sources[k]
	if x == nil {
		x = &srcIndex{}
		m.sources[k] = x
	}
	return x
}

// sourceRule returns the index into srcNames of the source rule package id
// falls under, or -1.
func (x *srcIndex) sourceRule(srcNames []string, set *inventory.PackageSet, id uint32) int {
	if int(id) < len(x.rule) {
		if v := x.rule[id]; v != 0 {
			return int(v) - 2
		}
	}
	if int(id) >= len(x.rule) {
		x.rule = append(x.rule, make([]int32, int(id)+1-len(x.rule)+1024)...)
	}
	v := int32(-1)
	if i, ok := slices.BinarySearch(srcNames, set.Package(id).SourceName); ok {
		v = int32(i)
	}
	x.rule[id] = v + 2
	return int(v)
}

// evalSet judges every rule of the baseline's stream on one package set.
// With shared set, a set whose rules look at the same packages as one
// evaluated before gets that one's result.
func evalSet(j *job, now time.Time, sla baseline.SLA, m *memo, shared *evalIntern) *setEval {
	sr := j.base.Streams[j.stream]
	set := j.set
	ids := set.IDs()
	pkgNames, srcNames := m.ruleNames(sr)
	ranges := m.ranges[:0]
	for _, name := range pkgNames {
		lo, hi := set.FindRange(name)
		ranges = append(ranges, [2]int{lo, hi})
	}
	m.ranges = ranges
	var x *srcIndex
	var count []int
	hits := m.hits[:0]
	if len(srcNames) > 0 {
		x = m.sourceIndex(sr, set)
		count = make([]int, len(srcNames))
		for _, id := range ids {
			if k := x.sourceRule(srcNames, set, id); k >= 0 {
				count[k]++
				hits = append(hits, srcHit{int32(k), id})
			}
		}
		m.hits = hits
	}
	var key evalKey
	if shared != nil {
		sig := m.sig[:0]
		for _, r := range ranges {
			sig = binary.AppendUvarint(sig, uint64(r[1]-r[0]))
			for _, id := range ids[r[0]:r[1]] {
				sig = binary.AppendUvarint(sig, uint64(id))
			}
		}
		for _, h := range hits {
			sig = binary.AppendUvarint(sig, uint64(h.rule))
			sig = binary.AppendUvarint(sig, uint64(h.id))
		}
		m.sig = sig
		key = evalKey{base: j.base, ring: j.ring, stream: j.stream, tab: set.Table(), ids: string(sig)}
		if ev := shared.evals.get(key); ev != nil {
			return ev
		}
	}
	results := make([]Result, 0, len(pkgNames)+len(srcNames))
	for i, name := range pkgNames {
		r := sr.Packages[name]
		lo, hi := ranges[i][0], ranges[i][1]
		obs := m.observeAll(j.eco, r, set, ids[lo:hi], false, shared)
		results = append(results, m.judge(ruleOf("package", name, r), r, obs, func(w int) obsKey {
			return obsKey{rule: r, tab: set.Table(), id: ids[lo+w]}
		}))
	}
	if len(srcNames) > 0 {
		// The ids per source rule share one scratch array cut to size.
		idsOf := make([][]uint32, len(srcNames))
		allIDs := m.srcIDs[:0]
		allIDs = slices.Grow(allIDs, len(hits))[:len(hits)]
		m.srcIDs = allIDs
		for k, n := range count {
			if n > 0 {
				idsOf[k], allIDs = allIDs[:0:n], allIDs[n:]
			}
		}
		for _, h := range hits {
			idsOf[h.rule] = append(idsOf[h.rule], h.id)
		}
		for k, name := range srcNames {
			r := sr.Sources[name]
			obs := m.observeAll(j.eco, r, set, idsOf[k], true, shared)
			results = append(results, m.judge(ruleOf("source", name, r), r, obs, func(w int) obsKey {
				return obsKey{rule: r, tab: set.Table(), id: idsOf[k][w], source: true}
			}))
		}
	}
	slices.SortStableFunc(results, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Rule.Name, b.Rule.Name), cmp.Compare(a.Rule.Kind, b.Rule.Kind))
	})
	for i := range results {
		res := &results[i]
		k := dlKey{b: j.base, stream: j.stream, kind: res.Rule.Kind, name: res.Rule.Name}
		d, ok := m.deadlines[k]
		if !ok {
			deadline(res, j.base, now, sla)
			m.deadlines[k] = dl{deadline: res.Deadline, by: res.DeadlineBy}
			continue
		}
		res.Deadline, res.DeadlineBy = d.deadline, d.by
		res.Overdue = now.After(res.Deadline)
		res.Risk = risk(res.Rule, res.Overdue, res.State == BlockedVersion)
	}
	ev := &setEval{results: results, actions: actions(results, j.ring, j.eco)}
	if shared != nil {
		ev = shared.evals.put(key, ev)
	}
	return ev
}

// observeAll returns the observations of rule r on the packages ids of
// the set, allocated to size (they stay in the plan). With shared set, the
// slice is shared by every computation whose rule looks at the same ids.
func (m *memo) observeAll(eco vercmp.Ecosystem, r *baseline.Rule, set *inventory.PackageSet, ids []uint32, source bool, shared *evalIntern) []Observed {
	if len(ids) == 0 {
		return nil
	}
	var key obsSliceKey
	if shared != nil {
		sig := m.sig[:0]
		for _, id := range ids {
			sig = binary.AppendUvarint(sig, uint64(id))
		}
		m.sig = sig
		key = obsSliceKey{rule: r, tab: set.Table(), source: source, ids: string(sig)}
		if obs := shared.obs.get(key); obs != nil {
			return obs
		}
	}
	obs := make([]Observed, len(ids))
	for k, id := range ids {
		obs[k] = m.observe(eco, r, set, id, source)
	}
	if shared != nil {
		obs = shared.obs.put(key, obs)
	}
	return obs
}

func ruleOf(kind, name string, r *baseline.Rule) Rule {
	out := Rule{Kind: kind, Name: name, Min: r.Min, Pin: r.Pin, Block: r.Block, Required: r.Required,
		Severity: r.Severity, KEV: r.KEV, Advisories: r.Advisories, Published: string(r.Published), Reboot: r.Reboot, Refreshed: r.Refreshed}
	if r.Hold != nil {
		out.Hold = r.Hold.Reason
	}
	return out
}

// observe judges one installed package against a rule, comparing v (the
// binary version for package rules, the source version for source rules).
func observe(eco vercmp.Ecosystem, r *baseline.Rule, p inventory.Package, v string) Observed {
	o := Observed{Package: p.Name, Arch: p.Arch, Version: p.Version, Compared: v}
	for _, b := range r.Block {
		if vercmp.Compare(eco, v, b) == 0 {
			o.State, o.Comparison = BlockedVersion, v+" = blocked "+b
			return o
		}
	}
	rel := func(target string) string {
		switch vercmp.Compare(eco, v, target) {
		case -1:
			return "<"
		case 1:
			return ">"
		}
		return "="
	}
	switch {
	case r.Hold != nil:
		o.State, o.Comparison = Held, v+" held ("+r.Hold.Reason+")"
	case r.Pin != "":
		op := rel(r.Pin)
		o.State, o.Comparison = Missing, v+" "+op+" pin "+r.Pin
		if op == "=" {
			o.State = Installed
		}
	case r.Min != "":
		op := rel(r.Min)
		o.Comparison = v + " " + op + " min " + r.Min
		switch op {
		case "<":
			o.State = Missing
		case "=":
			o.State = Installed
		default:
			o.State = InstalledOther
		}
	default:
		o.State, o.Comparison = Installed, v+" is not blocked"
	}
	return o
}

// rank orders observation states from worst to best.
func rank(s State) int {
	switch s {
	case BlockedVersion:
		return 0
	case Missing:
		return 1
	case Installed:
		return 2
	case InstalledOther:
		return 3
	}
	return 4
}

// judge is judge, with the state and evidence remembered per rule and
// worst observation; key gives the observation key of obs[w].
func (m *memo) judge(rule Rule, r *baseline.Rule, obs []Observed, key func(w int) obsKey) Result {
	k := evKey{obsKey: obsKey{rule: r, source: rule.Kind == "source"}, name: rule.Name}
	if len(obs) > 0 {
		k.obsKey = key(worst(obs))
	}
	e, ok := m.evidence[k]
	if !ok {
		res := judge(rule, r, obs)
		e = evidence{state: res.State, text: res.Evidence}
		m.evidence[k] = e
	}
	return Result{Rule: rule, Installed: obs, State: e.state, Evidence: e.text}
}

// worst returns the index of the worst observation; the first wins a tie.
func worst(obs []Observed) int {
	w := 0
	for i := range obs {
		if rank(obs[i].State) < rank(obs[w].State) {
			w = i
		}
	}
	return w
}

// judge turns a rule's observations into its result: the worst instance wins.
func judge(rule Rule, r *baseline.Rule, obs []Observed) Result {
	res := Result{Rule: rule, Installed: obs}
	if len(obs) == 0 {
		if r.Required {
			res.State = Missing
			res.Evidence = fmt.Sprintf("%s %s is not installed; the rule requires it", rule.Kind, rule.Name)
		} else {
			res.State = NotApplicable
			res.Evidence = fmt.Sprintf("%s %s is not installed", rule.Kind, rule.Name)
		}
		return res
	}
	w := worst(obs)
	res.State = obs[w].State
	res.Evidence = obs[w].Package + " " + obs[w].Version
	if rule.Kind == "source" {
		res.Evidence += " (source " + rule.Name + " " + obs[w].Compared + ")"
	}
	res.Evidence += ": " + obs[w].Comparison
	return res
}

// deadline sets the SLA deadline and risk of a result; they count only
// while the result is not compliant.
func deadline(res *Result, b *baseline.Baseline, now time.Time, sla baseline.SLA) {
	r := res.Rule
	start, from := b.Created.Time(), "baseline "+b.ID+" created "+string(b.Created)
	if r.Published != "" {
		start, from = baseline.Date(r.Published).Time(), "advisory published "+r.Published
	}
	days, by := sla.Days(r.Severity), "sla."+r.Severity
	if r.KEV && sla.KEV > 0 && sla.KEV < days {
		days, by = sla.KEV, "sla.kev"
	}
	res.Deadline = start.AddDate(0, 0, days)
	res.DeadlineBy = fmt.Sprintf("%s: %dd from %s", by, days, from)
	res.Overdue = now.After(res.Deadline)
	res.Risk = risk(r, res.Overdue, res.State == BlockedVersion)
}

func risk(r Rule, overdue, blocked bool) int {
	score := 0
	switch r.Severity {
	case "critical":
		score = 40
	case "high":
		score = 30
	case "medium":
		score = 20
	case "low":
		score = 10
	}
	if r.KEV {
		score += 25
	}
	if overdue {
		score += 15
	}
	if blocked {
		score += 10
	}
	return min(score, 100)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
