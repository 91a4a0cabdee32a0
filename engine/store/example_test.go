package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/patchbay/patchbay/engine/store"
)

// An agent enrolls, reports its full package set once, then reports only
// the hash while its packages do not change.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "patchbay-store-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "patchbay.db"), store.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	enrollToken, hostToken := "enroll-example", "host-example"
	if err := s.CreateEnrollmentToken(ctx, enrollToken, time.Now().Add(time.Hour), 1); err != nil {
		panic(err)
	}
	if _, err := s.EnrollHost(ctx, enrollToken, store.NewHost{ID: "web-1", Stream: "debian-12"}, hostToken); err != nil {
		panic(err)
	}

	set := []byte("openssl\t3.0.17-1~deb12u2\tamd64\n")
	sum := sha256.Sum256(set)
	hash := "sha256:" + hex.EncodeToString(sum[:])

	h, err := s.VerifyHostToken(ctx, hostToken)
	if err != nil {
		panic(err)
	}
	for i := range 3 {
		rec := store.ReportRecord{HostID: h.ID, ReceivedAt: time.Now(), Stream: "debian-12", PackageSetHash: hash}
		if known, _ := s.HasPackageSet(ctx, hash); !known {
			rec.PackageSet = set // the server asked for the full set
		}
		res, err := s.SaveReport(ctx, rec)
		if err != nil {
			panic(err)
		}
		fmt.Printf("report %d: set changed %v, set stored %v\n", i+1, res.SetChanged, res.SetStored)
	}
	// Output:
	// report 1: set changed true, set stored true
	// report 2: set changed false, set stored false
	// report 3: set changed false, set stored false
}
