package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay/patchbay/engine/gitrepo"
)

// trailOf is the trail as 'audit log --format json' shows it: changes with
// their records named by commit, line, kind, seq and digest.
type trailRow struct {
	Change
	Refs []string
}

func trailOf(t *testing.T, f *fixture, cacheDir string) []trailRow {
	t.Helper()
	changes, err := Trail(context.Background(), f.repo, nil, TrailOptions{CacheDir: cacheDir, Subjects: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []trailRow
	for _, c := range changes {
		row := trailRow{Change: c}
		for _, r := range c.Records {
			row.Refs = append(row.Refs, r.Where()+" "+r.Digest+" prev "+r.Chain.Prev)
		}
		row.Records = nil
		out = append(out, row)
	}
	return out
}

func cachePath(dir string) string { return filepath.Join(dir, LogCacheFile) }

// TestLogCacheSameTrail: the trail read through the log cache, cold (the
// cache written) and warm (the cache read, no note), is the trail read from
// the notes, undecodable lines included.
func TestLogCacheSameTrail(t *testing.T) {
	f := build(t)
	tamper(t, f, f.m2, func(lines [][]byte) [][]byte { return append(lines, []byte(`{"not":"an envelope"}`)) })
	want := trailOf(t, f, "")
	dir := t.TempDir()
	cold := trailOf(t, f, dir)
	if _, err := os.Stat(cachePath(dir)); err != nil {
		t.Fatalf("the cold read wrote no cache: %v", err)
	}
	warm := trailOf(t, f, dir)
	opt := cmpopts.EquateEmpty()
	if diff := cmp.Diff(want, cold, opt); diff != "" {
		t.Errorf("cold cache (-notes +cache):\n%s", diff)
	}
	if diff := cmp.Diff(want, warm, opt); diff != "" {
		t.Errorf("warm cache (-notes +cache):\n%s", diff)
	}
	if len(want) != 2 || want[0].Refs == nil {
		t.Fatalf("the fixture's trail is %d changes: %+v", len(want), want)
	}
}

// TestLogCacheKeyedByNotesTip: a warm read takes its records from the cache
// (a cache edited to name another author shows that author), and any move
// of the notes ref makes the cache stale: the next read shows the notes'
// records again and rewrites it.
func TestLogCacheKeyedByNotesTip(t *testing.T) {
	f := build(t)
	dir := t.TempDir()
	trailOf(t, f, dir)
	// Edit the cached predicate and fix the checksum: the cache is read.
	rewriteCache(t, dir, func(body []byte) []byte {
		return bytes.Replace(body, []byte(`"author":"alice"`), []byte(`"author":"mally"`), 1)
	})
	if got := trailOf(t, f, dir); got[1].Author != "mally" {
		t.Fatalf("warm read: author %q, want the cache's \"mally\" (was the cache read?)", got[1].Author)
	}
	// A new record moves the notes tip: the edited cache is not used.
	if _, err := f.w.Write(context.Background(), hash(t, f.m2), &RingVerified{Ring: "pilot", BaselineID: "b1", BaselineDigest: bdigest, Commit: f.m2, SuccessRate: 1, HostsTotal: 1, HostsSucceeded: 1, VerifiedAt: t0}); err != nil {
		t.Fatal(err)
	}
	got := trailOf(t, f, dir)
	if got[1].Author != "alice" || len(got[0].Verifications) != 1 {
		t.Fatalf("after a new record: author %q, %d verifications; want alice and 1", got[1].Author, len(got[0].Verifications))
	}
	if diff := cmp.Diff(trailOf(t, f, ""), got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("after a new record (-notes +cache):\n%s", diff)
	}
}

// TestLogCacheDamaged: a cache that is truncated, has a wrong checksum, is
// of another format or holds garbage with a correct checksum is ignored
// (the notes are read) and rewritten.
func TestLogCacheDamaged(t *testing.T) {
	f := build(t)
	want := trailOf(t, f, "")
	dir := t.TempDir()
	trailOf(t, f, dir)
	good, err := os.ReadFile(cachePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	head := len(logCacheMagic) + len(gitrepo.Hash{})
	damages := map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)-10] },
		"empty":     func([]byte) []byte { return nil },
		"other format": func(b []byte) []byte {
			return append([]byte("patchbay audit log cache 0\n"), b[len(logCacheMagic):]...)
		},
		"flipped byte":   func(b []byte) []byte { b[len(b)-5] ^= 1; return b },
		"other tip":      func(b []byte) []byte { b[len(logCacheMagic)] ^= 1; return b },
		"garbage summed": func(b []byte) []byte { return withSum(b[:head], []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3}) },
		"count too high": func(b []byte) []byte { return withSum(b[:head], []byte{200, 1}) },
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(cachePath(dir), damage(bytes.Clone(good)), 0o600); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, trailOf(t, f, dir), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-notes +cache):\n%s", diff)
			}
			if again, _ := os.ReadFile(cachePath(dir)); !bytes.Equal(again, good) {
				t.Errorf("the damaged cache was not rewritten")
			}
		})
	}
}

// TestVerifyIgnoresLogCache: a cache forged for the current notes tip (a
// record's approver changed, checksum fixed) changes what the log shows,
// never what verify finds: verify reads and checks the notes.
func TestVerifyIgnoresLogCache(t *testing.T) {
	f := build(t)
	tamper(t, f, f.m1, func(lines [][]byte) [][]byte { return lines[:len(lines)-1] }) // a record removed
	dir, ok := DefaultLogCacheDir(f.repo)
	if !ok {
		t.Fatal("no git directory")
	}
	if _, err := Trail(context.Background(), f.repo, nil, TrailOptions{CacheDir: dir}); err != nil {
		t.Fatal(err)
	}
	rewriteCache(t, dir, func(body []byte) []byte { return bytes.ReplaceAll(body, []byte(`"carol"`), []byte(`"mally"`)) })
	changes, err := Trail(context.Background(), f.repo, nil, TrailOptions{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := changes[len(changes)-1].Approvers; len(got) != 1 || got[0] != "mally" {
		t.Fatalf("log through the forged cache: approvers %v, want [mally] (was the cache read?)", got)
	}
	if _, err := Verify(context.Background(), f.repo, f.keys); err == nil {
		t.Fatal("verify passed on notes with a removed record")
	}
	l, err := Read(context.Background(), f.repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Records {
		if r.Statement == nil || bytes.Contains(r.Statement.Predicate, []byte("mally")) {
			t.Errorf("Read took %s from the cache", r.Where())
		}
	}
}

func rewriteCache(t *testing.T, dir string, edit func(body []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(cachePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	head := len(logCacheMagic) + len(gitrepo.Hash{})
	body := edit(bytes.Clone(b[head+sha256.Size:]))
	if bytes.Equal(body, b[head+sha256.Size:]) {
		t.Fatal("the edit changed nothing")
	}
	if err := os.WriteFile(cachePath(dir), withSum(b[:head], body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func withSum(head, body []byte) []byte {
	sum := sha256.Sum256(body)
	return append(append(bytes.Clone(head), sum[:]...), body...)
}

// TestLogCacheHead: a warm read takes the chain head (the notes tip's
// trailers) from the cache, without reading the tip commit, and gives the
// head Read gives; a cache for the tip whose head bytes are damaged is
// rebuilt. Fails if the head is not written to or read from the cache (a
// warm Log.Head would be zero).
func TestLogCacheHead(t *testing.T) {
	f := build(t)
	ctx := context.Background()
	all, err := Read(ctx, f.repo)
	if err != nil {
		t.Fatal(err)
	}
	if !all.HeadOK || all.Head.Seq != int64(len(f.records)) || all.Head.Digest == "" {
		t.Fatalf("the fixture's head: %+v ok %v", all.Head, all.HeadOK)
	}
	want := []gitrepo.Hash{hash(t, f.m1), hash(t, f.m2), hash(t, f.h1)}
	dir := t.TempDir()
	for _, pass := range []string{"cold", "warm"} {
		log, err := ReadCached(ctx, f.repo, want, dir)
		if err != nil {
			t.Fatal(err)
		}
		if log.Head != all.Head || log.HeadOK != all.HeadOK {
			t.Errorf("%s: head %+v ok %v, want %+v ok %v", pass, log.Head, log.HeadOK, all.Head, all.HeadOK)
		}
		if len(log.Records) != len(f.records) || len(log.ByCommit[f.h1]) != 1 {
			t.Errorf("%s: %d records, %d on the head; want %d and 1", pass, len(log.Records), len(log.ByCommit[f.h1]), len(f.records))
		}
	}
	// Only the wanted commits' records come from a warm read.
	log, err := ReadCached(ctx, f.repo, []gitrepo.Hash{hash(t, f.m2)}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Records) != 1 || log.Records[0].Commit != f.m2 || len(log.ByCommit) != 1 {
		t.Errorf("records of m2 alone: %d records on %d commits", len(log.Records), len(log.ByCommit))
	}
	if p, err := log.Records[0].Decode(); err != nil || p.(*ExceptionGranted).Owner != "dave" {
		t.Errorf("m2's record: %v, %v", p, err)
	}
	// The last byte is the head's "had trailers" flag; 7 is no flag.
	rewriteCache(t, dir, func(body []byte) []byte { body[len(body)-1] = 7; return body })
	if _, err := loadLogCache(cachePath(dir), all.Head.Tip, map[gitrepo.Hash]bool{}); err == nil {
		t.Fatal("a cache with a damaged head flag loaded")
	}
	if log, err := ReadCached(ctx, f.repo, want, dir); err != nil || log.Head != all.Head {
		t.Fatalf("after damage: %+v, %v", log, err)
	}
}
