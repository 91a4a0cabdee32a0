package gate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestValueMatchesJSON wants the directly built input value to equal the
// value of the canonical JSON (the document the input digest is of).
func TestValueMatchesJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 30, 15, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		in   Input
	}{
		{name: "zero", in: Input{}},
		{name: "nil group members", in: Input{Config: Config{Approvers: map[string][]string{"sre": nil}}}},
		{name: "full", in: Input{
			Base: Commit{"b"}, Head: Commit{"h"}, Now: at,
			Config: Config{Approvers: map[string][]string{"sre": {"a", "b"}, "security": {"s"}}, PolicyOwners: "po", Security: "sec", Exceptions: ExceptionLimits{MaxDays: 90}},
			Rings: []Ring{{Name: "canary", Baseline: "x", SoakHours: 1.5, SuccessThreshold: 0.95, Approvals: Approvals{Required: 2, Groups: []string{"sre"}},
				Freeze: []Freeze{{From: "2026-12-01", To: "2026-12-02", Reason: "r"}}}},
			Change: Change{
				RingsMoved: []RingMove{{Ring: "pilot", From: "a", To: "b", ToDigest: "sha256:1", Floors: []Floor{{Stream: "s", Kind: "package", Name: "n", OldMin: "1", NewMin: "2", Cmp: 1, AllowDowngradeReason: "why"}}}},
				Baselines:  []BaselineChange{{ID: "b", Status: "added", BaseDigest: "", HeadDigest: "sha256:2", Rules: []RuleSummary{{Stream: "s", Kind: "source", Name: "n", Min: "1", Pin: "2", Hold: true, HoldReason: "r", Block: []string{"3"}}, {Name: "no block"}}}},
				Exceptions: []ExceptionChange{{ID: "e", Status: "changed", Owner: "o", Reason: "r", CompensatingControl: "c", Granted: "2026-01-01", Expires: "2026-02-01", KEV: true}},
				Files:      []string{"policy/x.rego"},
			},
			PR:      PullRequest{Number: 7, Author: "a", LastPusher: "p", Labels: []string{"emergency"}, HeadSHA: "h"},
			Reviews: []Review{{User: User{"u"}, State: "APPROVED", CommitID: "h", SubmittedAt: at}},
			Evidence: []Evidence{{Ring: "canary", Baseline: "b", BaselineDigest: "sha256:2", Commit: "c", SuccessRate: 1, SoakHours: 1e21, VerifiedAt: at,
				TestedSet: []TestedVersion{{Stream: "debian-12", Package: "openssl", Version: "3.0.17-1~deb12u2", Hosts: 1}}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			norm := tt.in.normalized()
			b, err := json.Marshal(norm)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ast.ValueFromReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got := norm.value(); got.Compare(want) != 0 {
				t.Errorf("value differs from the JSON's:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestValueCoversEveryField fills every field of every input struct (each
// string, number and flag set, each list and map with one element) and
// wants the value to equal the canonical JSON's: a field added to an input
// struct reaches the policies exactly as it reaches the input digest.
func TestValueCoversEveryField(t *testing.T) {
	var in Input
	fill(t, reflect.ValueOf(&in).Elem(), "")
	norm := in.normalized()
	b, err := json.Marshal(norm)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ast.ValueFromReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := norm.value(); got.Compare(want) != 0 {
		t.Errorf("value differs from the JSON's:\n got %v\nwant %v", got, want)
	}
}

// fill sets every field under v to a value that is not zero.
func fill(t *testing.T, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("s " + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int:
		v.SetInt(int64(len(path)) + 1000)
	case reflect.Float64:
		v.SetFloat(float64(len(path)) + 0.25)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(t, s.Index(0), path+"[0]")
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		fill(t, e, path+"{}")
		m.SetMapIndex(reflect.ValueOf("k "+path), e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 4, 10, 0, len(path), 7, time.FixedZone("X", 7200))))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	default:
		t.Fatalf("%s: kind %s: teach fill about it", path, v.Kind())
	}
}

// TestValueAllocations bounds the allocations of building the benchmark's
// input value (testdata/promotion-input.json): object keys are made once
// per type and terms come from slabs. Made field by field, with a key term
// per field and a term per value, it took 474 allocations.
func TestValueAllocations(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "promotion-input.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in Input
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	norm := in.normalized()
	if n := testing.AllocsPerRun(20, func() { _ = norm.value() }); n > 300 {
		t.Errorf("building the input value took %.0f allocations, want at most 300", n)
	}
}
