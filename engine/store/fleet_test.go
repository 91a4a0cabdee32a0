package store

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fleetEnv turns on TestFleetSize, which fills a store with a fleet-sized
// data set (100,000 hosts, 1,000 distinct 2,000-package sets) and logs its
// size and the hot-path speed at that size. It takes minutes and ~200 MB
// of disk, so it is off by default.
const fleetEnv = "PATCHBAY_STORE_FLEET"

// fillFleet inserts hosts hosts (one history row each) pointing at sets
// distinct package sets, in large transactions; it bypasses enrollment to
// be quick, and it is what the size numbers in the notes were measured on.
func fillFleet(t testing.TB, s *Store, hosts, sets int) []string {
	t.Helper()
	ctx := context.Background()
	base := fullSet(2000)
	hashes := make([]string, sets)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sets {
		// Distinct sets that differ the way real ones do: a few versions.
		data := []byte(strings.Replace(string(base), fmt.Sprintf("ex%04d\"", i%2000),
			fmt.Sprintf("ex%04d\",\"patched\":%d", i%2000, i), 1))
		data = append(fmt.Appendf(nil, "# variant %d\n", i), data...)
		hashes[i] = hashOf(data)
		row, err := s.encodeSet(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO package_sets (hash, data, encoding, size, created_at) VALUES (?, ?, ?, ?, ?)"),
			hashes[i], row.data, row.encoding, row.size, dbTime(s.now())); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, hosts)
	const chunk = 5000
	for start := 0; start < hosts; start += chunk {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := start; i < min(start+chunk, hosts); i++ {
			ids[i] = fmt.Sprintf("host-%06d.fleet.example", i)
			h := hashes[i%sets]
			now := dbTime(s.now())
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO hosts (id, token_hash, labels, stream, ring, hostname, arch, kernel,
				agent_version, set_hash, last_report_at, enrolled_at) VALUES (?, ?, ?, 'debian-12', ?, ?, 'amd64', '6.1.0-40-amd64', '0.1.0', ?, ?, ?)`),
				ids[i], HashToken(ids[i]), `{"dc":"fra1","role":"web"}`, []string{"canary", "pilot", "prod"}[i%3], ids[i], h, now, now); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO reports (host_id, received_at, collected_at, set_hash, set_changed,
				reboot_required, kernel, agent_version) VALUES (?, ?, ?, ?, ?, ?, '6.1.0-40-amd64', '0.1.0')`),
				ids[i], now, now, h, true, false); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func TestFleetSize(t *testing.T) {
	if os.Getenv(fleetEnv) == "" {
		t.Skipf("%s not set; skipping the fleet-size measurement", fleetEnv)
	}
	for _, be := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqliteURL}, {"postgres", postgresURL}} {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			u := be.url(t)
			s := mustOpen(t, u, Options{})
			const hosts, sets = 100_000, 1_000
			start := time.Now()
			ids := fillFleet(t, s, hosts, sets)
			t.Logf("filled %d hosts, %d sets in %v", hosts, sets, time.Since(start).Round(time.Millisecond))
			st, err := s.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Hosts != hosts || st.PackageSets != sets {
				t.Fatalf("Stats = %+v", st)
			}
			t.Logf("package sets: %.1f MB as given, %.1f MB stored", float64(st.PackageSetBytes)/1e6, float64(st.PackageSetStoredBytes)/1e6)
			logSize(t, s, u)

			// Hot path at this size: hash-hit reports from 64 concurrent callers.
			h, err := s.Host(ctx, ids[0])
			if err != nil {
				t.Fatal(err)
			}
			const n = 4000
			var wg sync.WaitGroup
			start = time.Now()
			for w := range 64 {
				wg.Go(func() {
					for i := w; i < n; i += 64 {
						if _, err := s.SaveReport(ctx, report(ids[(i*7919)%hosts], h.PackageSetHash, nil, time.Now())); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			el := time.Since(start)
			t.Logf("at fleet size: %d hash-hit SaveReport in %v = %.0f reports/s", n, el.Round(time.Millisecond), n/el.Seconds())
			start = time.Now()
			for i := range n {
				if ok, err := s.HasPackageSet(ctx, h.PackageSetHash[:len(h.PackageSetHash)-1]+fmt.Sprint(i%10)); err != nil {
					t.Fatal(err)
				} else {
					_ = ok
				}
			}
			t.Logf("at fleet size: HasPackageSet serial %v/op", (time.Since(start) / n).Round(time.Microsecond))
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("Go heap in use %.1f MB; process RSS %s", float64(ms.HeapInuse)/1e6, rss())
		})
	}
}

func logSize(t *testing.T, s *Store, u string) {
	ctx := context.Background()
	if s.Backend() == BackendSQLite {
		if _, err := s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(strings.TrimPrefix(u, "sqlite://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sqlite file: %.1f MB", float64(fi.Size())/1e6)
		return
	}
	rows, err := s.r.QueryContext(ctx, `SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY 2 DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var total int64
	var parts []string
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			t.Fatal(err)
		}
		total += size
		parts = append(parts, fmt.Sprintf("%s %.1f MB", name, float64(size)/1e6))
	}
	t.Logf("postgres tables incl. indexes and TOAST: %.1f MB (%s)", float64(total)/1e6, strings.Join(parts, ", "))
}

func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:"))
		}
	}
	return "unknown"
}
