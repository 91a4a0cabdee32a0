package advisory

import (
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// Verdict is the matcher's judgement of one advisory for one package of a
// host. Only Affected, NoFix and WillNotFix are findings; Fixed and
// NotAffected are kept so that a verdict can be checked against the feed.
type Verdict string

// The verdicts.
const (
	// VerdictAffected: installed below the distribution's fixed version.
	VerdictAffected Verdict = "affected"
	// VerdictNoFix: vulnerable and no fix is available yet.
	VerdictNoFix Verdict = "no-fix-yet"
	// VerdictWillNotFix: vulnerable and the distribution will not fix it.
	VerdictWillNotFix Verdict = "will-not-fix"
	// VerdictUndetermined: the feed has not assessed it (or named no usable version).
	VerdictUndetermined Verdict = "undetermined"
	// VerdictFixed: installed at or above the fixed version.
	VerdictFixed Verdict = "fixed"
	// VerdictNotAffected: the feed says this package never was affected,
	// or the installed version is below the first affected one.
	VerdictNotAffected Verdict = "not-affected"
)

// IsFinding reports whether v leaves the host exposed.
func (v Verdict) IsFinding() bool {
	return v == VerdictAffected || v == VerdictNoFix || v == VerdictWillNotFix
}

// Finding is one advisory's verdict for one package on a package set.
type Finding struct {
	Advisory *Advisory `json:"-"`
	// AdvisoryID repeats Advisory.ID for encoding.
	AdvisoryID string `json:"advisory"`
	// Package is the name compared (source package, aport or binary RPM);
	// Kind says which.
	Package string `json:"package"`
	Kind    Kind   `json:"kind"`
	// Installed is the version compared: the source version for source
	// statements, the binary version otherwise.
	Installed string `json:"installed"`
	// Binaries are the installed binary packages concerned.
	Binaries []string `json:"binaries"`
	Verdict  Verdict  `json:"verdict"`
	// Fixed is the distribution's fixed version, when there is one.
	Fixed string `json:"fixed,omitempty"`
	// Stream is the advisory stream that spoke ("debian-12", or "debian-sid"
	// when the release inherited the unstable statement).
	Stream string `json:"stream"`
	// Module is the RHEL module stream of a modular fix.
	Module string `json:"module,omitempty"`
	// Note carries the feed's reason text.
	Note string `json:"note,omitempty"`
}

// StreamMap says which advisory streams speak for a host stream. A host
// stream not in the map is matched against the advisory stream of the same
// name only.
type StreamMap map[string][]string

// DefaultStreams matches RHEL hosts against the rebuilds' OSV feeds as well
// (AlmaLinux and Rocky publish the same NEVRAs as Red Hat for the same
// errata), which is what a site without a Red Hat feed has.
func DefaultStreams() StreamMap {
	m := StreamMap{}
	for _, v := range []string{"8", "9", "10"} {
		m["rhel-"+v] = []string{"rhel-" + v, "almalinux-" + v, "rocky-" + v}
	}
	return m
}

func (m StreamMap) sources(host string) []string {
	if s, ok := m[host]; ok {
		return s
	}
	return []string{host}
}

// stmt is one statement in the index.
type stmt struct {
	adv *Advisory
	st  *Affected
}

// Index holds the statements of a DB by advisory stream and package name,
// with unstable statements copied to releases that have none of their own.
type Index struct {
	byStream map[string]map[string][]stmt
	streams  StreamMap
}

// NewIndex indexes db for matching hosts of the given host streams.
func NewIndex(db *DB, hostStreams []string, streams StreamMap) *Index {
	if streams == nil {
		streams = DefaultStreams()
	}
	want := map[string]bool{}
	for _, h := range hostStreams {
		for _, s := range streams.sources(h) {
			want[s] = true
		}
	}
	ix := &Index{byStream: map[string]map[string][]stmt{}, streams: streams}
	add := func(stream string, s stmt) {
		m := ix.byStream[stream]
		if m == nil {
			m = map[string][]stmt{}
			ix.byStream[stream] = m
		}
		m[s.st.Package] = append(m[s.st.Package], s)
	}
	var debianTargets []string
	for s := range want {
		if strings.HasPrefix(s, "debian-") && s != "debian-sid" {
			debianTargets = append(debianTargets, s)
		}
	}
	slices.Sort(debianTargets)
	// A DSA or DLA line fixes its CVEs in its release: the tracker marks a
	// CVE fixed in a release through the advisory that fixed it.
	viaDSA := map[string][]stmt{}
	for _, a := range db.Advisories {
		if a.Feed != "debian-list" || !(strings.HasPrefix(a.ID, "DSA-") || strings.HasPrefix(a.ID, "DLA-")) {
			continue
		}
		for _, cve := range a.CVEs() {
			for i := range a.Affected {
				viaDSA[cve] = append(viaDSA[cve], stmt{a, &a.Affected[i]})
			}
		}
	}
	for _, a := range db.Advisories {
		for i := range a.Affected {
			st := &a.Affected[i]
			if want[st.Stream] {
				add(st.Stream, stmt{a, st})
			}
			// The tracker's lists speak of unstable; a release without a line
			// of its own inherits that statement.
			if st.Stream == "debian-sid" && a.Feed == "debian-list" {
				for _, target := range debianTargets {
					if hasStatement(a, target, st.Package) {
						continue
					}
					if d := dsaStatement(viaDSA[a.ID], target, st.Package); d != nil {
						fix := *d.st
						fix.Note = "fixed in " + target + " by " + d.adv.ID
						add(target, stmt{a, &fix})
						continue
					}
					inh := *st
					inh.Inherited = true
					add(target, stmt{a, &inh})
				}
			}
		}
	}
	return ix
}

func dsaStatement(sts []stmt, stream, pkg string) *stmt {
	for i := range sts {
		if sts[i].st.Stream == stream && sts[i].st.Package == pkg && sts[i].st.Status == StatusFixed {
			return &sts[i]
		}
	}
	return nil
}

func hasStatement(a *Advisory, stream, pkg string) bool {
	for i := range a.Affected {
		if a.Affected[i].Stream == stream && a.Affected[i].Package == pkg {
			return true
		}
	}
	return false
}

// SetResult is the verdicts for one distinct (stream, package set).
type SetResult struct {
	Stream string `json:"stream"`
	Hash   string `json:"packageSet"`
	// Findings are shared between sets (and must not be modified).
	Findings []*Finding `json:"findings"`
}

// HostMatch places one host: its ring and the set it reported.
type HostMatch struct {
	HostID string `json:"host"`
	Stream string `json:"stream"`
	Ring   string `json:"ring,omitempty"`
	Set    int    `json:"set"`
}

// Result is the verdicts for a fleet, deduplicated by package set.
type Result struct {
	Sets  []SetResult `json:"sets"`
	Hosts []HostMatch `json:"hosts"`
}

// MatchOptions tune Match.
type MatchOptions struct {
	// Repo, when set, places hosts in rings.
	Repo *baseline.Repository
	// Workers bounds parallelism; 0 means GOMAXPROCS.
	Workers int
}

// Match judges every advisory of the index against every host's packages.
// Hosts with the same stream and package set are judged once.
func Match(ix *Index, reports []*inventory.Report, opts MatchOptions) *Result {
	type key struct {
		stream string
		set    *inventory.PackageSet
	}
	res := &Result{Hosts: make([]HostMatch, 0, len(reports))}
	setIdx := map[key]int{}
	var jobs []key
	byHash := map[string]*inventory.PackageSet{}
	for _, r := range reports {
		set := r.Packages
		if prev, ok := byHash[set.Hash()]; ok {
			set = prev
		} else {
			byHash[set.Hash()] = set
		}
		k := key{r.Stream, set}
		i, ok := setIdx[k]
		if !ok {
			i = len(jobs)
			setIdx[k] = i
			jobs = append(jobs, k)
		}
		ring := ""
		if opts.Repo != nil {
			ring = RingOf(opts.Repo, r)
		}
		res.Hosts = append(res.Hosts, HostMatch{HostID: r.HostID, Stream: r.Stream, Ring: ring, Set: i})
	}
	slices.SortFunc(res.Hosts, func(a, b HostMatch) int { return strings.Compare(a.HostID, b.HostID) })
	res.Sets = make([]SetResult, len(jobs))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	memo := &memo{m: map[memoKey][]*Finding{}}
	var wg sync.WaitGroup
	ch := make(chan int)
	for range min(workers, max(len(jobs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				res.Sets[i] = ix.matchSet(jobs[i].stream, jobs[i].set, memo)
			}
		}()
	}
	for i := range jobs {
		ch <- i
	}
	close(ch)
	wg.Wait()
	return res
}

// memo caches the findings of one (stream, package, version, binaries)
// across sets: sets derived from the same image share most of them.
type memoKey struct{ stream, pkg, version, bins string }

type memo struct {
	mu sync.RWMutex
	m  map[memoKey][]*Finding
}

// unit is one thing to judge in a set: a source package at one source
// version (with its installed binaries) or one binary package.
type unit struct {
	name, version string
	bins          []string
	kind          Kind
}

func (ix *Index) matchSet(stream string, set *inventory.PackageSet, mm *memo) SetResult {
	out := SetResult{Stream: stream, Hash: set.Hash()}
	eco := set.Ecosystem()
	var parts [][]*Finding
	total := 0
	for _, src := range ix.streams.sources(stream) {
		pk := ix.byStream[src]
		if len(pk) == 0 {
			continue
		}
		for _, u := range units(set, eco) {
			sts := pk[u.name]
			if len(sts) == 0 {
				continue
			}
			mk := memoKey{src, u.name + "\x00" + string(u.kind), u.version, strings.Join(u.bins, ",")}
			mm.mu.RLock()
			f, ok := mm.m[mk]
			mm.mu.RUnlock()
			if !ok {
				f = judge(sts, u, eco, src, src != stream && strings.HasPrefix(src, "almalinux-"))
				mm.mu.Lock()
				mm.m[mk] = f
				mm.mu.Unlock()
			}
			parts = append(parts, f)
			total += len(f)
		}
	}
	out.Findings = make([]*Finding, 0, total)
	for _, f := range parts {
		out.Findings = append(out.Findings, f...)
	}
	// Units come in the set's package order and each memo entry in
	// advisory order, so the findings are ordered without a sort.
	return out
}

// units lists what to judge in a set: for deb and apk every distinct
// (source, source version) with its binaries — Debian and Ubuntu feeds speak
// of source packages, Alpine's secdb of aports (the apk origin) — and for
// rpm every binary package, as Red Hat family feeds name binary RPMs. The
// binary name is tried as well for deb and apk, so that a feed naming a
// binary (rare) still matches; judge drops statements of the wrong kind.
func units(set *inventory.PackageSet, eco vercmp.Ecosystem) []unit {
	pkgs := set.Packages()
	var out []unit
	if eco == vercmp.RPM {
		for _, p := range pkgs {
			out = append(out, unit{name: p.Name, version: p.Version, bins: []string{p.Name}, kind: Binary})
		}
		return out
	}
	idx := map[[2]string]int{}
	for _, p := range pkgs {
		k := [2]string{p.SourceName, p.SourceVersion}
		if i, ok := idx[k]; ok {
			if !slices.Contains(out[i].bins, p.Name) {
				out[i].bins = append(out[i].bins, p.Name)
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, unit{name: p.SourceName, version: p.SourceVersion, bins: []string{p.Name}, kind: Source})
	}
	return out
}

// judge gives the verdicts of all statements about one unit, one finding
// per advisory.
func judge(sts []stmt, u unit, eco vercmp.Ecosystem, stream string, rebuild bool) []*Finding {
	var out []*Finding
	for i := 0; i < len(sts); {
		j := i
		for j < len(sts) && sts[j].adv == sts[i].adv {
			j++
		}
		if f, ok := judgeOne(sts[i:j], u, eco, stream, rebuild); ok {
			out = append(out, &f)
		}
		i = j
	}
	return out
}

// judgeOne judges one advisory's statements (one or more: several fixed
// builds, or feeds repeating themselves) about a unit.
//
// An unstable fix that a Debian release inherited is not a fix for that
// release: below it the verdict is "no fix yet" (the tracker's "vulnerable,
// fixed in unstable"), never a floor to propose. For a RHEL host judged on a
// rebuild's feed, the rebuild's own release suffix (".alma.1") is dropped,
// so the fix compares with Red Hat's build of the same erratum.
func judgeOne(sts []stmt, u unit, eco vercmp.Ecosystem, stream string, rebuild bool) (Finding, bool) {
	a := sts[0].adv
	f := Finding{Advisory: a, AdvisoryID: a.ID, Package: u.name, Kind: u.kind, Installed: u.version, Binaries: u.bins, Stream: stream}
	var fixed []*Affected
	var open, outOfRange *Affected
	applicable := false
	for _, s := range sts {
		st := s.st
		if st.Kind != u.kind || st.Ecosystem != eco {
			continue
		}
		if eco == vercmp.RPM && !sameModuleStream(st, u.version) {
			continue
		}
		applicable = true
		if st.Inherited {
			f.Stream = "debian-sid"
		}
		switch st.Status {
		case StatusNotAffected:
			f.Verdict, f.Note = VerdictNotAffected, st.Note
			return f, true
		case StatusFixed:
			fixed = append(fixed, st)
		default:
			if outside(eco, u.version, st) {
				outOfRange = st
				continue
			}
			if open == nil || rankStatus(st.Status) > rankStatus(open.Status) {
				open = st
			}
		}
	}
	if !applicable {
		return f, false
	}
	if len(fixed) == 0 && open == nil {
		// Every statement without a fix bounds a range this version is
		// outside of.
		f.Verdict = VerdictNotAffected
		f.Note = "outside the affected range" + rangeText(outOfRange)
		return f, true
	}
	if len(fixed) > 0 {
		// The lowest fixed build is the fix; Introduced bounds the range.
		best := fixed[0]
		for _, st := range fixed[1:] {
			if vercmp.Compare(eco, st.Fixed, best.Fixed) < 0 {
				best = st
			}
		}
		f.Fixed, f.Module, f.Note = best.Fixed, best.Module, best.Note
		if rebuild {
			f.Fixed = almaSuffix.ReplaceAllString(f.Fixed, "")
		}
		switch {
		case best.Introduced != "" && vercmp.Compare(eco, u.version, best.Introduced) < 0:
			f.Verdict = VerdictNotAffected
		case vercmp.Compare(eco, u.version, f.Fixed) >= 0:
			f.Verdict = VerdictFixed
		case best.Inherited:
			f.Verdict = VerdictNoFix
			f.Note = "fixed in unstable in " + best.Fixed + "; no fix for this release in the feed"
		default:
			f.Verdict = VerdictAffected
		}
		return f, true
	}
	f.Note = open.Note
	switch open.Status {
	case StatusWillNotFix:
		f.Verdict = VerdictWillNotFix
	case StatusUndetermined:
		f.Verdict = VerdictUndetermined
	default:
		f.Verdict = VerdictNoFix
	}
	return f, true
}

// outside reports whether version v lies outside the range of st, a
// statement without a fix: below its first affected version or above its
// last affected one.
func outside(eco vercmp.Ecosystem, v string, st *Affected) bool {
	return st.Introduced != "" && vercmp.Compare(eco, v, st.Introduced) < 0 ||
		st.LastAffected != "" && vercmp.Compare(eco, v, st.LastAffected) > 0
}

// rangeText describes st's bounds for a finding's note.
func rangeText(st *Affected) string {
	var parts []string
	if st.Introduced != "" {
		parts = append(parts, "introduced "+st.Introduced)
	}
	if st.LastAffected != "" {
		parts = append(parts, "last affected "+st.LastAffected)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// almaSuffix is AlmaLinux's rebuild mark at the end of a release.
var almaSuffix = regexp.MustCompile(`\.alma(\.\d+)?$`)

func rankStatus(s Status) int {
	switch s {
	case StatusNotFixed:
		return 3
	case StatusWillNotFix:
		return 2
	case StatusUndetermined:
		return 1
	}
	return 0
}

// sameModuleStream decides whether an RPM statement speaks of the installed
// build. A fix built for a module stream ("nginx:1.18", release
// "…module_el8…") applies only to modular installs of that stream's version;
// a non-modular fix never applies to a modular install. Comparing across
// streams is the false positive scanners are known for: nginx 1.20 from
// the nginx:1.20 stream is not "below" a fix for nginx:1.18.
func sameModuleStream(st *Affected, installed string) bool {
	instMod := isModular(installed)
	fixMod := st.Fixed != "" && isModular(st.Fixed)
	if st.Fixed == "" {
		return true
	}
	if instMod != fixMod {
		return false
	}
	if !fixMod {
		return true
	}
	_, ver, ok := strings.Cut(st.Module, ":")
	if !ok || ver == "" {
		return upstreamVersion(installed) == upstreamVersion(st.Fixed)
	}
	up := upstreamVersion(installed)
	return up == ver || strings.HasPrefix(up, ver+".")
}

// upstreamVersion returns the version part of [epoch:]version-release.
func upstreamVersion(evr string) string {
	if i := strings.IndexByte(evr, ':'); i >= 0 {
		evr = evr[i+1:]
	}
	if i := strings.LastIndexByte(evr, '-'); i >= 0 {
		evr = evr[:i]
	}
	return evr
}

// RingOf names the ring whose selector takes the host: exact host ids
// first, then labels (the rule the plan uses); "" when none or several.
func RingOf(repo *baseline.Repository, r *inventory.Report) string {
	for _, ring := range repo.Rings {
		if slices.Contains(ring.Selector.Hosts, r.HostID) {
			return ring.Name
		}
	}
	found := ""
	for _, ring := range repo.Rings {
		if len(ring.Selector.Labels) == 0 {
			continue
		}
		ok := true
		for k, v := range ring.Selector.Labels {
			if r.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			if found != "" {
				return ""
			}
			found = ring.Name
		}
	}
	return found
}
