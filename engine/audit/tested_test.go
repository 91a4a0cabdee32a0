package audit

import (
	"strings"
	"testing"
	"time"
)

// TestRingVerifiedTestedSet: a tested-set entry must name stream, package,
// version and a positive host count; a record without a set stays valid
// (older records), the gate refuses it as evidence instead.
func TestRingVerifiedTestedSet(t *testing.T) {
	base := RingVerified{Ring: "canary", BaselineID: "b1", BaselineDigest: "sha256:" + strings.Repeat("ab", 32),
		Commit: strings.Repeat("c", 40), SuccessRate: 1, HostsTotal: 2, HostsSucceeded: 2, VerifiedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	if err := base.Validate(); err != nil {
		t.Fatalf("without a tested set: %v", err)
	}
	ok := base
	ok.TestedSet = []TestedVersion{{Stream: "debian-12", Package: "libssl3", Version: "3.0.17-1~deb12u3", Hosts: 2}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid tested set: %v", err)
	}
	bad := base
	bad.TestedSet = []TestedVersion{{Stream: "debian-12", Package: "libssl3", Version: "", Hosts: 0}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "testedSet[0]") {
		t.Errorf("invalid entry: %v", err)
	}
}
