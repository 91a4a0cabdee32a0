package gate

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// wantMarshal checks canonicalJSON against json.Marshal on the normalized
// in: the same bytes, or the same error; and that the base range is the
// config and rings.
func wantMarshal(t *testing.T, in Input) {
	t.Helper()
	norm := in.normalized()
	want, wantErr := json.Marshal(norm)
	got, at, err := norm.canonicalJSON(nil)
	if wantErr != nil || err != nil {
		if wantErr == nil || err == nil || err.Error() != wantErr.Error() {
			t.Fatalf("error %v, json.Marshal's %v", err, wantErr)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("canonical JSON differs from json.Marshal's:\n got %s\nwant %s", got, want)
	}
	parts, _ := json.Marshal(struct {
		Config Config `json:"config"`
		Rings  []Ring `json:"rings"`
	}{norm.Config, norm.Rings})
	config, rings := at.span[partConfig], at.span[partRings]
	if seg := `{"config":` + string(got[config[0]:config[1]]) + `,"rings":` + string(got[rings[0]:rings[1]]) + `}`; seg != string(parts) {
		t.Fatalf("config range %v and rings range %v are %s, want %s", config, rings, seg, parts)
	}
}

// TestCanonicalJSONMatchesMarshal: the typed encoder writes json.Marshal's
// bytes for the benchmark input, every field set, and the values it must
// leave to json.Marshal (escapes, invalid UTF-8, exponents, NaN, years
// past 9999), and fails where json.Marshal fails, with its error.
func TestCanonicalJSONMatchesMarshal(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "promotion-input.json"))
	if err != nil {
		t.Fatal(err)
	}
	var promo Input
	if err := json.Unmarshal(raw, &promo); err != nil {
		t.Fatal(err)
	}
	var every Input
	fill(t, reflect.ValueOf(&every).Elem(), "")
	at := time.Date(2026, 11, 26, 9, 30, 15, 123456789, time.FixedZone("CET", 3600))

	tests := map[string]Input{
		"zero":          {},
		"promotion":     promo,
		"every field":   every,
		"nil members":   {Config: Config{Approvers: map[string][]string{"b": nil, "a": {}, "c": {"x"}}}},
		"non-UTC time":  {Now: at, Reviews: []Review{{SubmittedAt: at}}, Evidence: []Evidence{{VerifiedAt: at}}},
		"year 0":        {Now: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year 9999":     {Now: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		"year 10000":    {Now: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year -1":       {Now: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		"NaN":           {Rings: []Ring{{SoakHours: math.NaN()}}},
		"infinity":      {Evidence: []Evidence{{SuccessRate: math.Inf(-1)}}},
		"negative ints": {PR: PullRequest{Number: -42}, Config: Config{Exceptions: ExceptionLimits{MaxDays: math.MinInt}}},
		"big int":       {Evidence: []Evidence{{HostsTotal: math.MaxInt}}},
		"floats": {Rings: []Ring{
			{SoakHours: 0, SuccessThreshold: math.Copysign(0, -1)},
			{SoakHours: 1e-6, SuccessThreshold: 1e-7},
			{SoakHours: 1e21, SuccessThreshold: 1e20},
			{SoakHours: 0.95, SuccessThreshold: -123456789.125},
			{SoakHours: 5e-324, SuccessThreshold: math.MaxFloat64},
			{SoakHours: 0.1 + 0.2, SuccessThreshold: 1.0 / 3},
		}},
	}
	for i, s := range []string{
		"", "plain", "<script>", "a&b", "x>y", `say "hi"`, `back\slash`, "tab\there", "nl\n", "nul\x00", "\x1f", "\x7f",
		"baseline 2026-11 → 2026-12", "ünïcödé", "emoji 🎉", "line\u2028sep", "para\u2029sep",
		"bad \xff byte", "cut \xe2\x86", "\xc0\xaf", "surrogate \xed\xa0\x80",
	} {
		tests["string "+string(rune('a'+i))] = Input{
			Base:   Commit{Commit: s},
			Config: Config{Approvers: map[string][]string{s: {s}}, Security: s},
			Rings:  []Ring{{Name: s, Approvals: Approvals{Groups: []string{s}}, Freeze: []Freeze{{Reason: s}}}},
			Change: Change{Classes: []ChangeClass{{Detail: s}}, Files: []string{s}},
			PR:     PullRequest{Labels: []string{s}},
		}
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) { wantMarshal(t, in) })
	}
}

// FuzzCanonicalJSON compares the typed encoder with json.Marshal on
// arbitrary strings, floats, integers and times in every kind of field.
//
//	go test ./engine/gate -run '^$' -fuzz FuzzCanonicalJSON -fuzztime 1m
func FuzzCanonicalJSON(f *testing.F) {
	f.Add("plain", "a<b", 0.95, int64(42), int64(1764147600), int64(0))
	f.Add("\xff", "\u2028", 1e21, int64(-1), int64(-62135596800), int64(999999999))
	f.Add("→", "", 1e-7, int64(math.MaxInt64), int64(253402300800), int64(1))
	f.Fuzz(func(t *testing.T, s1, s2 string, x float64, n, sec, nsec int64) {
		at := time.Unix(sec, nsec)
		wantMarshal(t, Input{
			Base: Commit{Commit: s1}, Head: Commit{Commit: s2}, Now: at,
			Config:  Config{Approvers: map[string][]string{s1: {s2}, s2: nil}, PolicyOwners: s2, Exceptions: ExceptionLimits{MaxDays: int(n)}},
			Rings:   []Ring{{Name: s1, SoakHours: x, SuccessThreshold: -x, MinHosts: int(n)}},
			Change:  Change{Baselines: []BaselineChange{{ID: s2, Rules: []RuleSummary{{Name: s1, Block: []string{s2}}}}}},
			PR:      PullRequest{Number: int(n), Author: s1},
			Reviews: []Review{{User: User{Login: s2}, SubmittedAt: at}},
			Evidence: []Evidence{{Ring: s1, SuccessRate: x, SoakHours: float64(n), VerifiedAt: at,
				TestedSet: []TestedVersion{{Version: s2, Hosts: int(n)}}}},
		})
	})
}

// TestNormalizedView wants the view Decide reads (lists shared where no
// element changes) to encode and evaluate exactly as normalized, for
// inputs with each kind of element that normalized must change, and in
// not to change.
func TestNormalizedView(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 30, 15, 5, time.FixedZone("CET", 3600))
	edits := map[string]func(*Input){
		"as it is":       func(*Input) {},
		"nil freeze":     func(in *Input) { in.Rings[0].Freeze = nil },
		"nil groups":     func(in *Input) { in.Rings[0].Approvals.Groups = nil },
		"nil floors":     func(in *Input) { in.Change.RingsMoved[0].Floors = nil },
		"nil rules":      func(in *Input) { in.Change.Baselines[0].Rules = nil },
		"nil block":      func(in *Input) { in.Change.Baselines[0].Rules[0].Block = nil },
		"review time":    func(in *Input) { in.Reviews[0].SubmittedAt = at },
		"evidence time":  func(in *Input) { in.Evidence[0].VerifiedAt = at },
		"nil tested set": func(in *Input) { in.Evidence[0].TestedSet = nil },
		"UTC times": func(in *Input) {
			in.Now, in.Reviews[0].SubmittedAt, in.Evidence[0].VerifiedAt = at.UTC(), at.UTC(), at.UTC()
		},
		"top-level nils":   func(in *Input) { *in = Input{Now: at} },
		"nil approvers":    func(in *Input) { in.Config.Approvers = nil },
		"local now":        func(in *Input) { in.Now = at },
		"empty everything": func(in *Input) { *in = Input{Rings: []Ring{}, Reviews: []Review{}} },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			var in Input
			fill(t, reflect.ValueOf(&in).Elem(), "")
			// In UTC, so that each edit alone decides what must change.
			in.Reviews[0].SubmittedAt, in.Evidence[0].VerifiedAt = at.UTC(), at.UTC()
			edit(&in)
			before, _ := json.Marshal(in)
			want, _, err := in.normalized().canonicalJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			view := in.normalizedView()
			got, _, err := view.canonicalJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("the view encodes as\n%s\nnormalized as\n%s", got, want)
			}
			if view.value().Compare(in.normalized().value()) != 0 {
				t.Fatal("the view's value differs from normalized's")
			}
			if after, _ := json.Marshal(in); !bytes.Equal(before, after) {
				t.Fatal("normalizedView changed its input")
			}
		})
	}
}
