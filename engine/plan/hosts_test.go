package plan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay/patchbay/engine/baseline"
)

// TestHostsRecordsAsHostValues proves that a computed plan's host records
// read back as the Host values the plan used to hold: every field, the
// JSON of the whole plan after a decode (which holds Host values), and the
// go-cmp comparison both ways.
func TestHostsRecordsAsHostValues(t *testing.T) {
	repo, reports := goldenFleet(t, 400, 40, 150)
	for i, r := range reports {
		if i%4 == 0 { // selected by pilot and prod: AMBIGUOUS, with candidates
			r.Labels = map[string]string{"ring": "pilot", "env": "production"}
		}
	}
	p := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
	if p.Hosts.tab == nil || p.Hosts.Len() != len(reports) {
		t.Fatalf("computed hosts: %d records, tables %v", p.Hosts.Len(), p.Hosts.tab != nil)
	}
	want := planJSON(t, p)
	var back Plan
	if err := json.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	if back.Hosts.tab != nil {
		t.Fatal("a decoded plan holds records")
	}
	if got := planJSON(t, &back); !bytes.Equal(got, want) {
		t.Errorf("plan JSON differs after a decode:\n%s", cmp.Diff(string(want), string(got)))
	}
	// Host values are what the records read as: equal, field for field.
	if values := HostsOf(p.Hosts.Slice()); !p.Hosts.Equal(values) || !values.Equal(p.Hosts) || values.Equal(back.Hosts) {
		t.Error("Equal: the computed hosts differ from their own values, or equal the decoded ones (which lost empty slices to omitempty)")
	}
	if d := cmp.Diff(p.Hosts.Slice(), back.Hosts.Slice(), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("hosts (-computed +decoded):\n%s", d)
	}
	var statuses, ambiguous, stale int
	for i, h := range p.Hosts.All() {
		if h.ID != p.Hosts.id(i) {
			t.Fatalf("host %d: ID %q, record %q", i, h.ID, p.Hosts.id(i))
		}
		// ReportedAt is the report's collection time in UTC, with no
		// monotonic reading and no location, as before.
		if !reflect.DeepEqual(h.ReportedAt, h.ReportedAt.UTC()) {
			t.Fatalf("host %s: ReportedAt %#v is not plain UTC", h.ID, h.ReportedAt)
		}
		if h.Status != "" {
			statuses++
		}
		if h.Status == Ambiguous && len(h.Candidates) > 1 {
			ambiguous++
		}
		if h.Stale {
			stale++
		}
	}
	if statuses != p.Hosts.Len() || ambiguous == 0 {
		t.Errorf("%d of %d hosts have a status, %d are AMBIGUOUS with candidates", statuses, p.Hosts.Len(), ambiguous)
	}
	n := 0
	for range p.Hosts.All() {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("All went on after break: %d", n)
	}
}

// TestHostsNullAndEmpty keeps the JSON of plans made by hand: no hosts is
// null, an empty slice is [], as with a []Host field.
func TestHostsNullAndEmpty(t *testing.T) {
	for _, c := range []struct {
		hosts Hosts
		want  string
	}{
		{Hosts{}, "null"},
		{HostsOf(nil), "null"},
		{HostsOf([]Host{}), "[]"},
		{Compute(Input{Repo: mustRepo(t), Now: now}, Options{}).Hosts, "[]"},
	} {
		b, err := json.Marshal(c.hosts)
		if err != nil || string(b) != c.want {
			t.Errorf("%+v: %s, %v; want %s", c.hosts, b, err, c.want)
		}
		if c.hosts.IsNull() != (c.want == "null") || c.hosts.Len() != 0 || c.hosts.Slice() != nil && c.want == "null" {
			t.Errorf("%+v: IsNull %v, Len %d", c.hosts, c.hosts.IsNull(), c.hosts.Len())
		}
	}
	if HostsOf(nil).Equal(HostsOf([]Host{})) {
		t.Error("null and empty hosts are Equal")
	}
}

// TestHostRecordIsSmall keeps the record a computed plan holds per host
// well under a Host value (issue 18: a 100,000-host plan held 27 MB of
// Host values).
func TestHostRecordIsSmall(t *testing.T) {
	rec, host := unsafe.Sizeof(hostRec{}), unsafe.Sizeof(Host{})
	if rec*2 > host {
		t.Errorf("a host record is %d bytes, a Host %d: the record must stay under half", rec, host)
	}
	t.Logf("record %d bytes, Host %d bytes", rec, host)
}

func mustRepo(t *testing.T) *baseline.Repository {
	t.Helper()
	repo, _ := goldenFleet(t, 1, 1, 10)
	return repo
}
