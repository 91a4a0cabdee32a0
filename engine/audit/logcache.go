package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/engine/gitrepo"
)

// The log cache keeps the decoded records of one notes tip in a file, so
// that 'patchbay audit log' does not read and decode every note again while
// the notes ref has not moved.
//
// It only ever speeds up display. The cache is keyed by the notes ref's tip
// commit, which names the whole notes tree: any change of the ref (a new
// record, a fetch, a rewrite) gives another tip and the cache is rebuilt
// from the notes. A file whose checksum, key or format does not match is
// ignored and rewritten. Verify and Complete never read it: they decode and
// check every record from the notes themselves, so no cache content can
// make 'patchbay audit verify' pass. (Anyone who can write the cache can
// write the notes ref too; 'audit log' does not check signatures either
// way.)

// LogCacheFile is the cache's file name under its directory.
const LogCacheFile = "audit-log.cache"

const logCacheMagic = "patchbay audit log cache 2\n"

// DefaultLogCacheDir is where 'patchbay audit log' keeps its cache for
// repo: the patchbay directory inside its git directory. ok is false when
// the repository is not on disk.
func DefaultLogCacheDir(repo *gitrepo.Repo) (string, bool) {
	dir, ok := repo.GitDir()
	if !ok || dir == "" {
		return "", false
	}
	return filepath.Join(dir, "patchbay"), true
}

// ReadCached is ReadFor through the log cache in dir: on a hit (the cache
// was written for the notes ref's current tip) no note is read; on a miss
// every note is read (concurrently) and decoded, and the cache written for
// the next call. A cache that cannot be written is left alone: the log is
// still returned. Like ReadFor, the log holds only the wanted commits'
// records and is for display, never for verification; records come without
// Raw, Envelope and Statement (their Digest, Kind, Chain, Problem and
// decoded predicate are kept).
func ReadCached(ctx context.Context, repo *gitrepo.Repo, want []gitrepo.Hash, dir string) (*Log, error) {
	// Only the ref: the tip commit itself (and the pack index needed to
	// find it) is read on a miss; its trailers are in the cache.
	tip, ok, err := repo.NotesTipHash(gitrepo.NotesRef)
	if err != nil {
		return nil, fmt.Errorf("read audit records: %w", err)
	}
	if !ok {
		return ReadFor(ctx, repo, want)
	}
	wanted := make(map[gitrepo.Hash]bool, len(want))
	for _, c := range want {
		wanted[c] = true
	}
	path := filepath.Join(dir, LogCacheFile)
	log, err := loadLogCache(path, tip, wanted)
	if err != nil {
		all, err := readAllNotes(ctx, repo)
		if err != nil {
			return nil, err
		}
		_ = writeLogCache(path, tip, all) // best effort: the log is shown either way
		log = &Log{Head: all.Head, HeadOK: all.HeadOK}
		for _, r := range all.Records {
			if c, err := gitrepo.ParseHash(r.Commit); err == nil && wanted[c] {
				log.Records = append(log.Records, r)
			}
		}
	}
	log.ByCommit = make(map[string][]*Record, len(log.Records))
	for _, r := range log.Records {
		log.ByCommit[r.Commit] = append(log.ByCommit[r.Commit], r)
	}
	sortRecords(log.Records)
	return log, nil
}

// readAllNotes reads and decodes every note: blobs one by one through
// go-git's object store (and its delta cache), decoded meanwhile on the
// other cores (read). Log.Records come by commit, in line order; ByCommit
// is not filled.
func readAllNotes(ctx context.Context, repo *gitrepo.Repo) (*Log, error) {
	log, err := read(ctx, repo, nil)
	if err != nil {
		return nil, err
	}
	recs := slices.Clone(log.Records)
	// By commit and line: the same notes give the same cache file.
	slices.SortFunc(recs, func(a, b *Record) int {
		if c := strings.Compare(a.Commit, b.Commit); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return &Log{Records: recs, Head: log.Head, HeadOK: log.HeadOK}, nil
}

// The cache file: magic, the notes tip (20 bytes), the SHA-256 of the body
// (32 bytes), then the body: a record count and per record the commit (20
// bytes), line, digest, kind, problem, chain seq and prev, and the
// predicate's JSON exactly as signed (empty when it was not decoded); after
// the records the chain head named by the tip's trailers (seq, digest, and
// 1 when it had them, else 0), so that a hit does not read the tip commit.
// Every length is bounded by the body, so a damaged file fails to load,
// never panics.

func writeLogCache(path string, tip gitrepo.Hash, log *Log) error {
	recs := log.Records
	size := 16
	for _, r := range recs {
		size += 64 + len(r.Digest) + len(r.Kind) + len(r.Problem) + len(r.Chain.Prev)
		if r.Statement != nil {
			size += len(r.Statement.Predicate)
		}
	}
	body := make([]byte, 0, size)
	body = binary.AppendUvarint(body, uint64(len(recs)))
	for _, r := range recs {
		c, err := gitrepo.ParseHash(r.Commit)
		if err != nil {
			return err
		}
		body = append(body, c[:]...)
		body = binary.AppendUvarint(body, uint64(r.Line))
		for _, s := range []string{r.Digest, string(r.Kind), r.Problem, r.Chain.Prev} {
			body = appendString(body, s)
		}
		body = binary.AppendVarint(body, r.Chain.Seq)
		var pred []byte
		if r.Statement != nil && r.pred != nil {
			pred = r.Statement.Predicate
		}
		body = appendString(body, string(pred))
	}
	body = binary.AppendVarint(body, log.Head.Seq)
	body = appendString(body, log.Head.Digest)
	headOK := byte(0)
	if log.HeadOK {
		headOK = 1
	}
	body = append(body, headOK)
	sum := sha256.Sum256(body)
	out := make([]byte, 0, len(logCacheMagic)+len(tip)+len(sum)+len(body))
	out = append(out, logCacheMagic...)
	out = append(out, tip[:]...)
	out = append(out, sum[:]...)
	out = append(out, body...)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), LogCacheFile+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errLogCache = errors.New("log cache unusable")

// loadLogCache returns the log cached for tip with the records on the
// wanted commits (in file order, ByCommit not filled), or an error when the
// file is missing, for another tip, damaged or of another format. Only the
// wanted records' predicates are decoded.
func loadLogCache(path string, tip gitrepo.Hash, wanted map[gitrepo.Hash]bool) (*Log, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	head := len(logCacheMagic) + len(tip) + sha256.Size
	if len(data) < head || string(data[:len(logCacheMagic)]) != logCacheMagic {
		return nil, fmt.Errorf("%w: not a log cache", errLogCache)
	}
	rest := data[len(logCacheMagic):]
	if !bytes.Equal(rest[:len(tip)], tip[:]) {
		return nil, fmt.Errorf("%w: written for notes tip %s", errLogCache, hex.EncodeToString(rest[:len(tip)]))
	}
	rest = rest[len(tip):]
	body := rest[sha256.Size:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], rest[:sha256.Size]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errLogCache)
	}
	d := cacheDecoder{b: body}
	n := d.uvarint()
	if n > uint64(len(body)) { // every record takes more than a byte
		return nil, fmt.Errorf("%w: %d records in %d bytes", errLogCache, n, len(body))
	}
	// The wanted records are allocated together; a commit's string is
	// shared by its records (they come by commit).
	slab := make([]Record, 0, min(n, uint64(len(wanted))))
	recs := make([]*Record, 0, cap(slab))
	var preds [][]byte
	var prev gitrepo.Hash
	var commit string
	for range n {
		var c gitrepo.Hash
		copy(c[:], d.bytes(len(c)))
		line := d.uvarint()
		digest, kind, problem, prevLink := d.bytes(int(d.uvarint())), d.bytes(int(d.uvarint())), d.bytes(int(d.uvarint())), d.bytes(int(d.uvarint()))
		seq := d.varint()
		pred := d.bytes(int(d.uvarint()))
		if d.err != nil || !wanted[c] {
			continue
		}
		if commit == "" || c != prev {
			prev, commit = c, c.String()
		}
		slab = append(slab, Record{Commit: commit, Line: int(line), Digest: string(digest), Kind: Kind(kind),
			Problem: string(problem), Chain: Link{Seq: seq, Prev: string(prevLink)}})
		recs = append(recs, &slab[len(slab)-1])
		preds = append(preds, pred)
	}
	log := &Log{Records: recs, Head: Head{Tip: tip}}
	log.Head.Seq = d.varint()
	log.Head.Digest = d.string()
	switch ok := d.bytes(1); {
	case len(ok) == 1 && ok[0] <= 1:
		log.HeadOK = ok[0] == 1
	default:
		d.fail()
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: damaged body", errLogCache)
	}
	// The predicates, decoded as decodeLine decodes them.
	parallel(len(recs), func(i int) {
		if len(preds[i]) == 0 {
			return
		}
		if p, err := NewPredicate(recs[i].Kind); err == nil && json.Unmarshal(preds[i], p) == nil {
			recs[i].pred = p
		}
	})
	return log, nil
}

type cacheDecoder struct {
	b   []byte
	err error
}

func (d *cacheDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *cacheDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *cacheDecoder) bytes(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.fail()
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *cacheDecoder) string() string { return string(d.bytes(int(d.uvarint()))) }

func (d *cacheDecoder) fail() {
	if d.err == nil {
		d.err = errLogCache
	}
	d.b = nil
}
