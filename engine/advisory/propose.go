package advisory

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cuelang.org/go/cue/format"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// ProposeOptions shape a proposal.
type ProposeOptions struct {
	Repo *baseline.Repository
	Now  time.Time
	// ID is the new baseline's id; empty means "<date>-advisories".
	ID string
	// Base is the baseline to build on; empty means the newest (by created,
	// then id).
	Base string
	// Since leaves out advisories published (or modified) before it.
	Since time.Time
	// MinRisk leaves out advisories scoring below it (KEV entries never are).
	MinRisk float64
	// Streams limits the proposal to these host streams; empty means all.
	Streams []string
	// NextCycle writes a standalone baseline (every rule of Base, floors
	// raised) instead of a hotfix that extends Base.
	NextCycle bool
	// KEVOnly proposes the fixes of KEV-listed advisories only (a KEV
	// cycle); the others are not considered (nor listed as left out).
	KEVOnly bool
}

// Proposal is a baseline written from matched advisories.
type Proposal struct {
	ID string `json:"id"`
	// Extends is the base baseline for a hotfix; empty for a next-cycle one.
	Extends string `json:"extends,omitempty"`
	Base    string `json:"base"`
	// Mode is "hotfix" or "next-cycle".
	Mode string `json:"mode"`
	// File is the repository path to write, "baselines/<id>.cue".
	File string `json:"file"`
	// Source is the formatted CUE.
	Source  []byte    `json:"-"`
	Covered []Covered `json:"covered"`
	LeftOut []LeftOut `json:"leftOut"`
}

// Covered is one rule the proposal sets.
type Covered struct {
	Stream     string   `json:"stream"`
	Kind       Kind     `json:"kind"`
	Package    string   `json:"package"`
	Min        string   `json:"min"`
	Severity   string   `json:"severity"`
	KEV        bool     `json:"kev"`
	Advisories []string `json:"advisories"`
	Hosts      int      `json:"hosts"`
}

// LeftOut is an advisory (or one fix of it) the proposal does not cover,
// with the reason.
type LeftOut struct {
	Advisory string `json:"advisory"`
	Stream   string `json:"stream,omitempty"`
	Package  string `json:"package,omitempty"`
	Reason   string `json:"reason"`
}

type ruleKey struct {
	stream, pkg string
	kind        Kind
}

// Propose turns ranked exposures into a baseline: for every fix of every
// advisory that passes the filters, a floor (min) at the distribution's
// fixed version with the advisory's severity, KEV flag, publication date
// and ids. A hotfix extends the base by CUE unification, so it cannot
// change a rule the base already has; when a floor must rise above one,
// the proposal becomes a next-cycle baseline holding every rule of the
// base with the floors raised.
func Propose(exps []Exposure, opts ProposeOptions) (*Proposal, error) {
	repo := opts.Repo
	base := opts.Base
	if base == "" {
		base = newestBaseline(repo)
	}
	bl := repo.Baselines[base]
	if bl == nil {
		return nil, fmt.Errorf("propose: no baseline %q to build on", base)
	}
	p := &Proposal{Base: base}
	rules := map[ruleKey]*baseline.Rule{}
	covered := map[ruleKey]*Covered{}
	raises := false
	contributed := map[string]bool{}
	for _, e := range exps {
		a := e.Advisory
		if opts.KEVOnly && !e.Risk.KEV {
			continue
		}
		if !opts.Since.IsZero() && !a.Published.IsZero() && a.Published.Before(opts.Since) && a.Modified.Before(opts.Since) {
			p.LeftOut = append(p.LeftOut, LeftOut{Advisory: e.ID, Reason: "published before --since"})
			continue
		}
		if !e.Risk.KEV && e.Risk.Score < opts.MinRisk {
			p.LeftOut = append(p.LeftOut, LeftOut{Advisory: e.ID, Reason: fmt.Sprintf("risk %.2f below the cut %.2f", e.Risk.Score, opts.MinRisk)})
			continue
		}
		if len(e.Fixes) == 0 {
			why := "no fix available yet"
			if e.ByVerdict[VerdictWillNotFix] > 0 && e.ByVerdict[VerdictNoFix] == 0 {
				why = "the distribution will not fix it"
			}
			p.LeftOut = append(p.LeftOut, LeftOut{Advisory: e.ID, Reason: why})
			continue
		}
		if n := e.ByVerdict[VerdictNoFix] + e.ByVerdict[VerdictWillNotFix]; n > 0 {
			p.LeftOut = append(p.LeftOut, LeftOut{Advisory: e.ID, Reason: fmt.Sprintf("%d hosts have no fix available yet for some of its packages", n)})
		}
		for _, fx := range e.Fixes {
			if len(opts.Streams) > 0 && !slices.Contains(opts.Streams, fx.HostStream) {
				continue // not asked for: not "left out"
			}
			st, ok := repo.Config.Streams[fx.HostStream]
			if !ok {
				p.LeftOut = append(p.LeftOut, LeftOut{Advisory: e.ID, Stream: fx.HostStream, Package: fx.Package, Reason: "stream not declared in patchbay.cue"})
				continue
			}
			if fx.Module != "" {
				p.LeftOut = append(p.LeftOut, LeftOut{Advisory: e.ID, Stream: fx.HostStream, Package: fx.Package, Reason: "fix for module stream " + fx.Module + ": a floor would also judge other streams; write the rule by hand"})
				continue
			}
			if ex := exceptionFor(repo, fx, opts.Now); ex != "" {
				p.LeftOut = append(p.LeftOut, LeftOut{Advisory: e.ID, Stream: fx.HostStream, Package: fx.Package, Reason: "excepted by " + ex})
				continue
			}
			k := ruleKey{fx.HostStream, fx.Package, fx.Kind}
			if old := baseRule(bl, k); old != nil && old.Min != "" && vercmp.Compare(st.Ecosystem, old.Min, fx.Fixed) >= 0 {
				p.LeftOut = append(p.LeftOut, LeftOut{Advisory: e.ID, Stream: fx.HostStream, Package: fx.Package, Reason: "already required by " + base + " (min " + old.Min + ")"})
				continue
			} else if old != nil {
				raises = true
			}
			r := rules[k]
			if r == nil {
				r = &baseline.Rule{Min: fx.Fixed}
				rules[k] = r
				covered[k] = &Covered{Stream: k.stream, Kind: k.kind, Package: k.pkg}
			}
			if vercmp.Compare(st.Ecosystem, fx.Fixed, r.Min) > 0 {
				r.Min = fx.Fixed
			}
			sev := e.Risk.Severity
			if sev == "negligible" || sev == "" {
				sev = "low"
			}
			if SeverityRank(sev) > SeverityRank(r.Severity) {
				r.Severity = sev
			}
			r.KEV = r.KEV || e.Risk.KEV
			contributed[e.ID] = true
			for _, id := range append([]string{e.ID}, e.CVEs...) {
				if !slices.Contains(r.Advisories, id) {
					r.Advisories = append(r.Advisories, id)
				}
			}
			if !a.Published.IsZero() {
				d := baseline.Date(a.Published.UTC().Format(time.DateOnly))
				if r.Published == "" || d < r.Published {
					r.Published = d
				}
			}
			c := covered[k]
			c.Hosts = max(c.Hosts, fx.Hosts)
		}
	}
	if len(rules) == 0 {
		return p, fmt.Errorf("propose: %w (%d left out); nothing to write", ErrNothingToPropose, len(p.LeftOut))
	}
	p.ID = opts.ID
	if p.ID == "" {
		p.ID = opts.Now.UTC().Format(time.DateOnly) + "-advisories"
		for i := 2; repo.Baselines[p.ID] != nil; i++ {
			p.ID = opts.Now.UTC().Format(time.DateOnly) + "-advisories-" + strconv.Itoa(i)
		}
	}
	if repo.Baselines[p.ID] != nil {
		return p, fmt.Errorf("propose: baseline %q already exists; baselines are immutable, choose another --id", p.ID)
	}
	p.File = "baselines/" + p.ID + ".cue"
	p.Mode = "hotfix"
	if opts.NextCycle || raises {
		p.Mode = "next-cycle"
		// Carry every rule of the base, then raise the floors.
		for s, sr := range bl.Streams {
			for name, r := range sr.Packages {
				mergeBase(rules, ruleKey{s, name, Binary}, r)
			}
			for name, r := range sr.Sources {
				mergeBase(rules, ruleKey{s, name, Source}, r)
			}
		}
	} else {
		p.Extends = base
	}
	for _, c := range covered {
		r := rules[ruleKey{c.Stream, c.Package, c.Kind}]
		c.Min, c.Severity, c.KEV, c.Advisories = r.Min, r.Severity, r.KEV, r.Advisories
		p.Covered = append(p.Covered, *c)
	}
	slices.SortFunc(p.Covered, func(x, y Covered) int {
		return cmp.Or(strings.Compare(x.Stream, y.Stream), strings.Compare(string(x.Kind), string(y.Kind)), strings.Compare(x.Package, y.Package))
	})
	src, err := p.writeCUE(rules, bl, opts.Now, len(contributed))
	if err != nil {
		return p, err
	}
	p.Source = src
	return p, nil
}

// mergeBase adds a base rule, keeping a raised floor and joining the
// advisories when the proposal already has one.
func mergeBase(rules map[ruleKey]*baseline.Rule, k ruleKey, r *baseline.Rule) {
	cp := *r
	cp.Advisories = slices.Clone(r.Advisories)
	if cur := rules[k]; cur != nil {
		cp.Min = cur.Min
		cp.KEV = cp.KEV || cur.KEV
		if SeverityRank(cur.Severity) > SeverityRank(cp.Severity) {
			cp.Severity = cur.Severity
		}
		for _, a := range cur.Advisories {
			if !slices.Contains(cp.Advisories, a) {
				cp.Advisories = append(cp.Advisories, a)
			}
		}
		if cur.Published != "" && (cp.Published == "" || cur.Published < cp.Published) {
			cp.Published = cur.Published
		}
	}
	rules[k] = &cp
}

func baseRule(b *baseline.Baseline, k ruleKey) *baseline.Rule {
	sr := b.Streams[k.stream]
	if sr == nil {
		return nil
	}
	if k.kind == Binary {
		return sr.Packages[k.pkg]
	}
	return sr.Sources[k.pkg]
}

func exceptionFor(repo *baseline.Repository, fx Fix, now time.Time) string {
	for _, e := range repo.Exceptions {
		if e.Stream != fx.HostStream || !e.Active(now) || len(e.Hosts) > 0 || e.Ring != "" {
			continue // exceptions for some hosts only do not excuse a fleet-wide floor
		}
		if (fx.Kind == Source && e.Source == fx.Package) || (fx.Kind == Binary && e.Package == fx.Package) {
			return e.ID
		}
	}
	return ""
}

func newestBaseline(repo *baseline.Repository) string {
	best := ""
	for id, b := range repo.Baselines {
		if best == "" || b.Created > repo.Baselines[best].Created || (b.Created == repo.Baselines[best].Created && id > best) {
			best = id
		}
	}
	return best
}

func (p *Proposal) writeCUE(rules map[ruleKey]*baseline.Rule, base *baseline.Baseline, now time.Time, ranked int) ([]byte, error) {
	var b strings.Builder
	b.WriteString("package patchbay\n\n")
	fmt.Fprintf(&b, "// Proposed by `patchbay propose` on %s from the advisories that apply to\n", now.UTC().Format(time.DateOnly))
	if p.Mode == "hotfix" {
		fmt.Fprintf(&b, "// the fleet: %s plus %d floors at the distributions' fixed versions.\n", p.Base, len(p.Covered))
	} else {
		fmt.Fprintf(&b, "// the fleet: every rule of %s, with %d floors raised or added at the\n// distributions' fixed versions (a hotfix cannot change a rule it extends).\n", p.Base, len(p.Covered))
	}
	fmt.Fprintf(&b, "// Left out: %d (see the pull request or `patchbay propose --format json`).\n", len(p.LeftOut))
	fmt.Fprintf(&b, "baselines: %s: {\n", strconv.Quote(p.ID))
	fmt.Fprintf(&b, "created: %s\n", strconv.Quote(now.UTC().Format(time.DateOnly)))
	summary := fmt.Sprintf("%s plus fixes for %d advisories matched to the fleet", p.Base, ranked)
	if p.Mode != "hotfix" {
		summary = fmt.Sprintf("Next cycle after %s: floors for %d advisories matched to the fleet", p.Base, ranked)
	}
	fmt.Fprintf(&b, "summary: %s\n", strconv.Quote(summary))
	if p.Extends != "" {
		fmt.Fprintf(&b, "extends: %s\n", strconv.Quote(p.Extends))
	}
	b.WriteString("streams: {\n")
	keys := make([]ruleKey, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y ruleKey) int {
		return cmp.Or(strings.Compare(x.stream, y.stream), strings.Compare(string(y.kind), string(x.kind)), strings.Compare(x.pkg, y.pkg))
	})
	for i := 0; i < len(keys); {
		s := keys[i].stream
		fmt.Fprintf(&b, "%s: {\n", strconv.Quote(s))
		for i < len(keys) && keys[i].stream == s {
			kind := keys[i].kind
			field := "sources"
			if kind == Binary {
				field = "packages"
			}
			fmt.Fprintf(&b, "%s: {\n", field)
			for i < len(keys) && keys[i].stream == s && keys[i].kind == kind {
				writeRule(&b, keys[i].pkg, rules[keys[i]])
				i++
			}
			b.WriteString("}\n")
		}
		b.WriteString("}\n")
	}
	b.WriteString("}\n}\n")
	out, err := format.Source([]byte(b.String()), format.Simplify())
	if err != nil {
		return nil, fmt.Errorf("propose: format CUE: %w", err)
	}
	return out, nil
}

func writeRule(b *strings.Builder, name string, r *baseline.Rule) {
	fmt.Fprintf(b, "%s: {\n", strconv.Quote(name))
	if r.Min != "" {
		fmt.Fprintf(b, "min: %s\n", strconv.Quote(r.Min))
	}
	if r.Pin != "" {
		fmt.Fprintf(b, "pin: %s\n", strconv.Quote(r.Pin))
	}
	if r.Hold != nil {
		fmt.Fprintf(b, "hold: reason: %s\n", strconv.Quote(r.Hold.Reason))
	}
	if len(r.Block) > 0 {
		fmt.Fprintf(b, "block: [%s]\n", quoteList(r.Block))
	}
	if r.Required {
		b.WriteString("required: true\n")
	}
	if r.Severity != "" {
		fmt.Fprintf(b, "severity: %s\n", strconv.Quote(r.Severity))
	}
	if r.KEV {
		b.WriteString("kev: true\n")
	}
	if len(r.Advisories) > 0 {
		fmt.Fprintf(b, "advisories: [%s]\n", quoteList(r.Advisories))
	}
	if r.Published != "" {
		fmt.Fprintf(b, "published: %s\n", strconv.Quote(string(r.Published)))
	}
	if r.Reboot {
		b.WriteString("reboot: true\n")
	}
	if r.AllowDowngrade != nil {
		fmt.Fprintf(b, "allowDowngrade: reason: %s\n", strconv.Quote(r.AllowDowngrade.Reason))
	}
	b.WriteString("}\n")
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}
