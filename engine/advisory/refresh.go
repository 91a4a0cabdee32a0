package advisory

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
)

// Refresh returns a copy of repo whose baseline rules carry the KEV flag
// and severity the feeds know better: a rule naming an advisory or CVE that
// is in the KEV catalogue becomes kev (tightening its deadline to the KEV
// SLA), and a rule whose advisories the feeds rate more severe takes that
// severity. Values are only ever raised. Each changed rule says where the
// value came from in Rule.Refreshed, which the plan shows. The files, their
// content and digests are untouched; repo itself is not modified.
func Refresh(repo *baseline.Repository, db *DB) *baseline.Repository {
	byID := map[string][]*Advisory{}
	for _, a := range db.Advisories {
		byID[a.ID] = append(byID[a.ID], a)
		for _, al := range a.Aliases {
			byID[al] = append(byID[al], a)
		}
	}
	out := *repo
	out.Baselines = make(map[string]*baseline.Baseline, len(repo.Baselines))
	for id, b := range repo.Baselines {
		cp := *b
		cp.Streams = make(map[string]*baseline.StreamRules, len(b.Streams))
		for s, sr := range b.Streams {
			nsr := &baseline.StreamRules{Packages: refreshRules(sr.Packages, byID, db), Sources: refreshRules(sr.Sources, byID, db)}
			cp.Streams[s] = nsr
		}
		out.Baselines[id] = &cp
	}
	return &out
}

func refreshRules(rules map[string]*baseline.Rule, byID map[string][]*Advisory, db *DB) map[string]*baseline.Rule {
	if rules == nil {
		return nil
	}
	out := make(map[string]*baseline.Rule, len(rules))
	for name, r := range rules {
		cp := *r
		var notes []string
		ids := slices.Clone(r.Advisories)
		for _, id := range r.Advisories {
			for _, a := range byID[id] {
				ids = append(ids, a.CVEs()...)
			}
		}
		if !cp.KEV && db.KEV != nil {
			for _, id := range ids {
				if e, ok := db.KEV.Entries[id]; ok {
					cp.KEV = true
					notes = append(notes, fmt.Sprintf("kev from CISA KEV %s (%s added %s, due %s)", db.KEV.CatalogVersion, id, e.DateAdded.Format(time.DateOnly), e.DueDate.Format(time.DateOnly)))
					break
				}
			}
		}
		for _, id := range r.Advisories {
			for _, a := range byID[id] {
				sev := a.Severity
				if sev == "negligible" {
					sev = "low"
				}
				if SeverityRank(sev) > SeverityRank(cp.Severity) {
					notes = append(notes, fmt.Sprintf("severity %s from %s (%s feed, was %s)", sev, a.ID, a.Feed, cp.Severity))
					cp.Severity = sev
				}
			}
		}
		cp.Refreshed = strings.Join(notes, "; ")
		out[name] = &cp
	}
	return out
}
