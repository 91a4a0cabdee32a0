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

const logCacheMagic = "patchbay audit log cache 1\n"

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
	tip, err := repo.NotesTip(gitrepo.NotesRef)
	if err != nil {
		return nil, fmt.Errorf("read audit records: %w", err)
	}
	if tip == nil {
		return ReadFor(ctx, repo, want)
	}
	path := filepath.Join(dir, LogCacheFile)
	recs, err := loadLogCache(path, tip.Hash)
	if err != nil {
		if recs, err = readAllNotes(ctx, repo); err != nil {
			return nil, err
		}
		_ = writeLogCache(path, tip.Hash, recs) // best effort: the log is shown either way
	}
	wanted := make(map[string]bool, len(want))
	for _, c := range want {
		wanted[c.String()] = true
	}
	log := &Log{ByCommit: map[string][]*Record{}}
	log.Head, log.HeadOK = parseHead(tip)
	for _, r := range recs {
		if wanted[r.Commit] {
			log.Records = append(log.Records, r)
			log.ByCommit[r.Commit] = append(log.ByCommit[r.Commit], r)
		}
	}
	sortRecords(log.Records)
	return log, nil
}

// readAllNotes reads and decodes every note: blobs one by one through
// go-git's object store (and its delta cache), decoded meanwhile on the
// other cores (read). Records come by commit, in line order.
func readAllNotes(ctx context.Context, repo *gitrepo.Repo) ([]*Record, error) {
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
	return recs, nil
}

// The cache file: magic, the notes tip (20 bytes), the SHA-256 of the body
// (32 bytes), then the body: a record count and per record the commit (20
// bytes), line, digest, kind, problem, chain seq and prev, and the
// predicate's JSON exactly as signed (empty when it was not decoded). Every
// length is bounded by the body, so a damaged file fails to load, never
// panics.

func writeLogCache(path string, tip gitrepo.Hash, recs []*Record) error {
	var body []byte
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

// loadLogCache returns the records cached for tip, or an error when the
// file is missing, for another tip, damaged or of another format.
func loadLogCache(path string, tip gitrepo.Hash) ([]*Record, error) {
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
	recs := make([]*Record, n)
	preds := make([][]byte, n)
	for i := range recs {
		var c gitrepo.Hash
		copy(c[:], d.bytes(len(c)))
		r := &Record{Commit: c.String(), Line: int(d.uvarint())}
		r.Digest = d.string()
		r.Kind = Kind(d.string())
		r.Problem = d.string()
		r.Chain.Prev = d.string()
		r.Chain.Seq = d.varint()
		preds[i] = d.bytes(int(d.uvarint()))
		recs[i] = r
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
	return recs, nil
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
