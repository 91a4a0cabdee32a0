package gate_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// numeric orders dotted numeric versions ("3.0.9" < "3.0.15"), enough to
// show that FloorChanges uses the comparator and not string order.
func numeric(_, a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

func TestFloorChanges(t *testing.T) {
	oldRules := []gate.RuleFloor{
		{Stream: "debian-12", Kind: "package", Name: "zlib", Min: "1.2.13"},
		{Stream: "debian-12", Kind: "package", Name: "openssl", Min: "3.0.9"},
		{Stream: "debian-12", Kind: "source", Name: "curl", Min: "7.88.1"},
		{Stream: "debian-12", Kind: "package", Name: "bash", Min: "5.2"},
		{Stream: "debian-12", Kind: "package", Name: "held", Pin: "1.0"}, // no min: no floor
		{Stream: "rhel-9", Kind: "package", Name: "kernel", Min: "5.14.0.400"},
	}
	newRules := []gate.RuleFloor{
		{Stream: "debian-12", Kind: "package", Name: "openssl", Min: "3.0.15"},                                 // raised (string order would say lowered)
		{Stream: "debian-12", Kind: "source", Name: "curl", Min: "7.88.0", AllowDowngradeReason: "regression"}, // lowered, allowed
		{Stream: "debian-12", Kind: "package", Name: "bash", Pin: "5.2"},                                       // pinned at the floor
		{Stream: "debian-12", Kind: "package", Name: "zlib"},                                                   // floor removed (a hold, say)
		{Stream: "rhel-9", Kind: "package", Name: "kernel", Min: "5.14.0.400"},                                 // same
	}
	got := gate.FloorChanges(oldRules, newRules, numeric)
	want := []gate.Floor{
		{Stream: "debian-12", Kind: "package", Name: "bash", OldMin: "5.2", NewMin: "5.2", Cmp: 0},
		{Stream: "debian-12", Kind: "package", Name: "openssl", OldMin: "3.0.9", NewMin: "3.0.15", Cmp: 1},
		{Stream: "debian-12", Kind: "package", Name: "zlib", OldMin: "1.2.13", NewMin: "", Cmp: -1},
		{Stream: "debian-12", Kind: "source", Name: "curl", OldMin: "7.88.1", NewMin: "7.88.0", Cmp: -1, AllowDowngradeReason: "regression"},
		{Stream: "rhel-9", Kind: "package", Name: "kernel", OldMin: "5.14.0.400", NewMin: "5.14.0.400", Cmp: 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FloorChanges (-want +got):\n%s", diff)
	}
}

func TestVercmpFunc(t *testing.T) {
	c := gate.VercmpFunc(map[string]vercmp.Ecosystem{"debian-12": vercmp.Deb})
	tests := []struct {
		name, a, b string
		want       int
	}{
		{name: "equal", a: "1.0-1", b: "1.0-1", want: 0},
		{name: "older", a: "1.0-1", b: "2.0-1", want: -1},
		{name: "newer", a: "2.0-1", b: "1.0-1", want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c("debian-12", tt.a, tt.b); got != tt.want {
				t.Errorf("compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
