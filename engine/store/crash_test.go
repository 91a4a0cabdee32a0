package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashChildEnv carries the store URL to the child process of
// TestCrashKill; when it is set, TestCrashChild is the writer to be killed.
const crashChildEnv = "PATCHBAY_STORE_CRASH_CHILD_URL"

const crashHosts = 8

// TestCrashKill runs a writer in a child process, kills it with SIGKILL
// while it is saving reports from several goroutines, reopens the store and
// checks that every report the child saw acknowledged is there, and that no
// host is half-updated (its current set and last report time match its
// newest history row). SIGKILL loses the process, not the page cache: this
// is the application-crash case; power loss is what synchronous=FULL is for.
func TestCrashKill(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	for _, be := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqliteURL}, {"postgres", postgresURL}} {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			u := be.url(t)
			opts := Options{ReportRetention: 1_000_000}
			s := mustOpen(t, u, opts)
			var ids []string
			for i := range crashHosts {
				ids = append(ids, fmt.Sprintf("crash-%d", i))
			}
			enroll(t, s, ids...)
			s.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+u)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			type ack struct {
				host string
				id   int64
				hash string
			}
			var acks []ack
			sc := bufio.NewScanner(out)
			for sc.Scan() && len(acks) < 400 {
				f := strings.Fields(sc.Text())
				if len(f) != 4 || f[0] != "ack" {
					continue
				}
				id, err := strconv.ParseInt(f[2], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				acks = append(acks, ack{f[1], id, f[3]})
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if len(acks) < 400 {
				t.Fatalf("child acknowledged only %d reports before exiting", len(acks))
			}

			s2 := mustOpen(t, u, opts)
			kept := map[int64]string{}
			for _, id := range ids {
				rs, err := s2.Reports(ctx, id, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					kept[r.ID] = r.PackageSetHash
				}
				h, err := s2.Host(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) == 0 {
					continue
				}
				if h.PackageSetHash != rs[0].PackageSetHash || !h.LastReportAt.Equal(rs[0].ReceivedAt) {
					t.Errorf("host %s half-updated: host set %s at %v, newest report %s at %v",
						id, h.PackageSetHash, h.LastReportAt, rs[0].PackageSetHash, rs[0].ReceivedAt)
				}
				if ok, err := s2.HasPackageSet(ctx, h.PackageSetHash); err != nil || !ok {
					t.Errorf("host %s points at missing set %s: %v", id, h.PackageSetHash, err)
				}
			}
			for _, a := range acks {
				if got, ok := kept[a.id]; !ok || got != a.hash {
					t.Errorf("acknowledged report %d of %s lost after kill (found %v)", a.id, a.host, ok)
				}
			}
			if s2.Backend() == BackendSQLite {
				var res string
				if err := s2.w.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
					t.Errorf("integrity_check = %q, %v", res, err)
				}
			}
			t.Logf("%d acknowledged reports all present; %d reports stored in total", len(acks), len(kept))
		})
	}
}

// TestCrashChild is the writer TestCrashKill kills; it runs only as that
// child process.
func TestCrashChild(t *testing.T) {
	u := os.Getenv(crashChildEnv)
	if u == "" {
		t.Skip("only run as TestCrashKill's child")
	}
	ctx := context.Background()
	s, err := Open(ctx, u, Options{ReportRetention: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range crashHosts {
		wg.Go(func() {
			host := fmt.Sprintf("crash-%d", w)
			for i := 0; ; i++ {
				// A new set every third report, hash-only otherwise.
				hash, data := setOf(fmt.Sprintf("%s-%d", host, i/3), 500)
				if i%3 != 0 {
					data = nil
				}
				res, err := s.SaveReport(ctx, report(host, hash, data, time.Now()))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s %d %s\n", host, res.ReportID, hash)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
