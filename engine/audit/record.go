package audit

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchbay/patchbay/engine/gitrepo"
)

// Link is a record's place in the chain, carried in the predicate as
// "chain": {"seq": n, "prev": "sha256:..."}.
type Link struct {
	// Seq is the record's position, from 1.
	Seq int64 `json:"seq"`
	// Prev is the digest of record Seq-1; empty for record 1.
	Prev string `json:"prev,omitempty"`
}

// Trailer keys of notes commits that anchor the chain head.
const (
	trailerSeq  = "Patchbay-Chain-Seq"
	trailerHead = "Patchbay-Chain-Head"
)

// Head is the chain head named by the notes ref's tip commit.
type Head struct {
	// Seq and Digest are the last record's position and digest.
	Seq    int64
	Digest string
	// Tip is the notes commit they were read from (zero without a ref).
	Tip gitrepo.Hash
}

// parseHead reads the trailers of a notes commit. ok is false when the
// commit has none (it was not written by patchbay).
func parseHead(c *gitrepo.Commit) (h Head, ok bool) {
	if c == nil {
		return Head{}, true
	}
	h.Tip = c.Hash
	var haveSeq, haveHead bool
	for _, line := range strings.Split(c.Message, "\n") {
		k, v, found := strings.Cut(line, ": ")
		if !found {
			continue
		}
		switch k {
		case trailerSeq:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil && n >= 0 {
				h.Seq, haveSeq = n, true
			}
		case trailerHead:
			h.Digest, haveHead = strings.TrimSpace(v), true
		}
	}
	return h, haveSeq && (haveHead || h.Seq == 0)
}

// Writer appends records to a repository's chain. Use one Writer per
// repository; its methods are safe for concurrent use.
type Writer struct {
	// Repo is the repository whose notes hold the records.
	Repo *gitrepo.Repo
	// Signer signs every record.
	Signer *Signer
	// Committer names the author of notes commits; its When is ignored.
	Committer gitrepo.Signature
	// Now is the clock for notes commits; nil means time.Now.
	Now func() time.Time
	// mu serializes WriteAndPush's fetch-write-push cycles, so that one
	// cycle's rollback never drops another's record.
	mu sync.Mutex
	// notes indexes the notes WriteOnce checked, by commit (under mu).
	notes map[string]*noteIndex
}

// Write signs a record of p about commit, chains it after the current
// head and appends it to the commit's note under refs/notes/patchbay, in
// one compare-and-swap of the notes ref. It returns the record written.
func (w *Writer) Write(ctx context.Context, commit gitrepo.Hash, p Predicate) (*Record, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(ctx, commit, p, false)
}

func (w *Writer) write(ctx context.Context, commit gitrepo.Hash, p Predicate, once bool) (*Record, error) {
	if w.Signer == nil {
		return nil, fmt.Errorf("write %s record: no signer", p.Kind())
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if a, ok := p.(aboutCommit); ok && a.aboutCommit() != commit.String() {
		return nil, fmt.Errorf("%w: %s: it is about commit %s, not %s", ErrInvalidPredicate, p.Kind(), a.aboutCommit(), commit)
	}
	if _, err := w.Repo.Commit(commit); err != nil {
		return nil, fmt.Errorf("write %s record: %w", p.Kind(), err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s predicate: %w", p.Kind(), err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	sig := w.Committer
	if sig.Name == "" {
		sig.Name, sig.Email = "patchbay", "patchbay@localhost"
	}
	sig.When = now().UTC().Truncate(time.Second)
	var rec *Record
	_, err = w.Repo.UpdateNote(ctx, gitrepo.NotesRef, commit, sig, func(tip *gitrepo.Commit, old []byte) ([]byte, string, error) {
		head, ok := parseHead(tip)
		if !ok {
			return nil, "", fmt.Errorf("write %s record: %w: tip %s has no %s trailer; run 'patchbay audit verify'", p.Kind(), ErrForeignTip, tip.Hash, trailerHead)
		}
		if once && w.holdsEqualCached(commit.String(), old, p.Kind(), body) {
			return nil, "", errAlreadyRecorded
		}
		link := Link{Seq: head.Seq + 1, Prev: head.Digest}
		line, err := w.encode(commit, p, body, link)
		if err != nil {
			return nil, "", err
		}
		rec = &Record{Commit: commit.String(), Raw: line, Digest: Digest(line), Kind: p.Kind(), Chain: link}
		msg := fmt.Sprintf("patchbay audit: %s on %s\n\n%s: %d\n%s: %s\n", p.Kind(), commit.String()[:12],
			trailerSeq, link.Seq, trailerHead, rec.Digest)
		note := gitrepo.AppendLine(old, line)
		// The record's line, counted as reading the note counts it (from 1),
		// so that --record and the export name the same line.
		rec.Line = bytes.Count(note, []byte("\n"))
		return note, msg, nil
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// encode builds the statement and signs it; the result is one line.
func (w *Writer) encode(commit gitrepo.Hash, p Predicate, body []byte, link Link) ([]byte, error) {
	chain, err := json.Marshal(link)
	if err != nil {
		return nil, err
	}
	// {"chain":{...},<the predicate's own fields>}
	pred := make([]byte, 0, len(body)+len(chain)+10)
	pred = append(pred, `{"chain":`...)
	pred = append(pred, chain...)
	if len(body) > 2 {
		pred = append(pred, ',')
	}
	pred = append(pred, body[1:]...)
	st := Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: "git+commit", Digest: map[string]string{"gitCommit": commit.String()}}},
		PredicateType: p.Kind().PredicateType(),
		Predicate:     pred,
	}
	if id, d := p.Baseline(); d != "" {
		st.Subject = append(st.Subject, Subject{Name: "baseline:" + id, Digest: map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")}})
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	return w.Signer.sign(payload)
}

// WriteAndPush writes a record and publishes it to remote. Before writing
// it fast-forwards the local notes to the remote's; when the push loses
// against another writer, the unpublished record is dropped, the remote's
// notes fetched again and the record re-chained, re-signed and pushed —
// fetch-merge-retry that keeps the chain linear.
func (w *Writer) WriteAndPush(ctx context.Context, remote string, commit gitrepo.Hash, p Predicate) (*Record, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var last error
	for range 16 {
		theirs, err := w.Repo.FetchNotes(ctx, remote, gitrepo.NotesRef)
		if err != nil {
			return nil, err
		}
		tip, err := w.Repo.NotesTip(gitrepo.NotesRef)
		if err != nil {
			return nil, err
		}
		var local gitrepo.Hash
		if tip != nil {
			local = tip.Hash
		}
		switch {
		case theirs.IsZero() || local == theirs:
		case local.IsZero():
			if err := w.Repo.SetNotesRef(gitrepo.NotesRef, theirs, local); err != nil {
				continue
			}
		default:
			behind, err := w.Repo.IsAncestor(local, theirs)
			if err != nil {
				return nil, err
			}
			ahead, err := w.Repo.IsAncestor(theirs, local)
			if err != nil {
				return nil, err
			}
			switch {
			case behind:
				if err := w.Repo.SetNotesRef(gitrepo.NotesRef, theirs, local); err != nil {
					continue
				}
			case !ahead:
				return nil, fmt.Errorf("write record: local notes %s and %s's %s have diverged", local.String()[:12], remote, theirs.String()[:12])
			}
		}
		before, _ := w.Repo.NotesTip(gitrepo.NotesRef)
		rec, err := w.write(ctx, commit, p, false)
		if err != nil {
			return nil, err
		}
		last = w.Repo.PushNotes(ctx, remote, gitrepo.NotesRef)
		if last == nil {
			return rec, nil
		}
		if !errors.Is(last, gitrepo.ErrRejected) {
			return nil, last
		}
		// Drop our unpublished record and start again from the remote.
		after, err := w.Repo.NotesTip(gitrepo.NotesRef)
		if err != nil {
			return nil, err
		}
		var prev gitrepo.Hash
		if before != nil {
			prev = before.Hash
		}
		if err := w.Repo.SetNotesRef(gitrepo.NotesRef, prev, after.Hash); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("write record: %w", last)
}

// Record is one record as read from the notes.
type Record struct {
	// Commit is the commit whose note holds the record.
	Commit string
	// Line is the record's line in that note, from 1.
	Line int
	// Raw is the envelope line as stored; Digest is "sha256:" + its hex SHA-256.
	Raw    []byte
	Digest string
	// Envelope and Statement are decoded from Raw; Statement is nil when
	// the payload does not decode.
	Envelope  Envelope
	Statement *Statement
	// Kind and Chain are decoded from the statement.
	Kind  Kind
	Chain Link
	// Problem is why the record could not be decoded (empty when it could).
	Problem string
	// pred caches the decoded predicate.
	pred Predicate
}

// Where names the record for messages: "record 5 (ring.verified) on commit abc123def456, line 2".
func (r *Record) Where() string {
	kind := string(r.Kind)
	if kind == "" {
		kind = "undecodable"
	}
	seq := "?"
	if r.Chain.Seq > 0 {
		seq = strconv.FormatInt(r.Chain.Seq, 10)
	}
	return fmt.Sprintf("record %s (%s) on commit %s, line %d", seq, kind, short(r.Commit), r.Line)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Decode decodes the record's predicate into a typed value of its kind.
func (r *Record) Decode() (Predicate, error) {
	if r.pred != nil {
		return r.pred, nil
	}
	if r.Statement == nil {
		return nil, fmt.Errorf("%s: %s", r.Where(), r.Problem)
	}
	p, err := r.decodePredicate()
	if err != nil {
		return nil, err
	}
	r.pred = p
	return p, nil
}

func (r *Record) decodePredicate() (Predicate, error) {
	p, err := NewPredicate(r.Kind)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(r.Statement.Predicate, p); err != nil {
		return nil, fmt.Errorf("%s: predicate: %w", r.Where(), err)
	}
	return p, nil
}

// Subject returns the statement's commit subject ("" if none).
func (r *Record) Subject() string {
	if r.Statement == nil {
		return ""
	}
	for _, s := range r.Statement.Subject {
		if s.Name == "git+commit" {
			return s.Digest["gitCommit"]
		}
	}
	return ""
}

// decodeLine decodes one note line into a record; problems are recorded,
// not returned, so that verification can report them in place.
func decodeLine(commit string, n int, line []byte) *Record {
	rec := &Record{Commit: commit, Line: n, Raw: line, Digest: Digest(line)}
	if err := decodeEnvelope(line, &rec.Envelope); err != nil || rec.Envelope.PayloadType == "" {
		rec.Problem = "not a DSSE envelope"
		return rec
	}
	if rec.Envelope.PayloadType != PayloadType {
		rec.Problem = fmt.Sprintf("payloadType %q, want %q", rec.Envelope.PayloadType, PayloadType)
		return rec
	}
	payload, err := base64.StdEncoding.DecodeString(rec.Envelope.Payload)
	if err != nil {
		rec.Problem = "payload is not base64"
		return rec
	}
	var st Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		rec.Problem = "payload is not an in-toto statement"
		return rec
	}
	if st.Type != StatementType {
		rec.Problem = fmt.Sprintf("statement _type %q, want %q", st.Type, StatementType)
		return rec
	}
	kind, ok := KindOf(st.PredicateType)
	if !ok {
		rec.Problem = fmt.Sprintf("unknown predicateType %q", st.PredicateType)
		return rec
	}
	var c struct {
		Chain *Link `json:"chain"`
	}
	if err := json.Unmarshal(st.Predicate, &c); err != nil || c.Chain == nil || c.Chain.Seq < 1 {
		rec.Problem = "predicate has no chain link"
		return rec
	}
	rec.Statement, rec.Kind, rec.Chain = &st, kind, *c.Chain
	if p, err := rec.decodePredicate(); err == nil {
		rec.pred = p
	}
	return rec
}

// canonicalPrefix is how every envelope patchbay writes begins.
var canonicalPrefix = []byte(`{"payloadType":"` + PayloadType + `","payload":"`)

// decodeEnvelope decodes an envelope line. Lines in patchbay's own
// canonical encoding take a fast path that skips scanning the long base64
// payload twice; it yields exactly what encoding/json would, and anything
// else (another key order, escapes, a repeated key) takes the standard path.
func decodeEnvelope(line []byte, env *Envelope) error {
	if rest, ok := bytes.CutPrefix(line, canonicalPrefix); ok {
		if end := bytes.IndexByte(rest, '"'); end >= 0 && end+1 < len(rest) && rest[end+1] == ',' && isBase64(rest[:end]) {
			var tail Envelope
			tailJSON := append([]byte{'{'}, rest[end+2:]...) // skip `",`
			if json.Unmarshal(tailJSON, &tail) == nil && tail.PayloadType == "" && tail.Payload == "" {
				*env = Envelope{PayloadType: PayloadType, Payload: string(rest[:end]), Signatures: tail.Signatures}
				return nil
			}
		}
	}
	*env = Envelope{}
	return json.Unmarshal(line, env)
}

func isBase64(b []byte) bool {
	for _, c := range b {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// Log is every record of a repository, as read (not yet verified).
type Log struct {
	// Records in chain order (by seq; undecodable ones last).
	Records []*Record
	// ByCommit indexes records by the commit whose note holds them, in
	// line order.
	ByCommit map[string][]*Record
	// Head is the chain head named by the notes ref's tip; HeadOK is false
	// when the tip carries no trailers.
	Head   Head
	HeadOK bool
}

// Read reads every record under refs/notes/patchbay without verifying it.
func Read(ctx context.Context, repo *gitrepo.Repo) (*Log, error) {
	return read(ctx, repo, nil)
}

// ReadFor reads, without verifying them, only the records on the given
// commits; Head is filled as by Read. Log.Records is then not the whole
// chain: use it for display, never for verification.
func ReadFor(ctx context.Context, repo *gitrepo.Repo, commits []gitrepo.Hash) (*Log, error) {
	want := make(map[gitrepo.Hash]bool, len(commits))
	for _, c := range commits {
		want[c] = true
	}
	return read(ctx, repo, want)
}

func read(ctx context.Context, repo *gitrepo.Repo, want map[gitrepo.Hash]bool) (*Log, error) {
	notes, err := repo.Notes(gitrepo.NotesRef)
	if err != nil {
		return nil, fmt.Errorf("read audit records: %w", err)
	}
	if want != nil {
		for c := range notes {
			if !want[c] {
				delete(notes, c)
			}
		}
	}
	tip, err := repo.NotesTip(gitrepo.NotesRef)
	if err != nil {
		return nil, fmt.Errorf("read audit records: %w", err)
	}
	log := &Log{ByCommit: make(map[string][]*Record, len(notes))}
	log.Head, log.HeadOK = parseHead(tip)
	// Blobs are read one by one (go-git's object store is not safe for
	// concurrent use) while other goroutines decode the lines of the blobs
	// already read.
	type note struct {
		commit string
		data   []byte
		recs   []*Record
	}
	all := make([]*note, 0, len(notes))
	work := make(chan *note, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				for j, line := range bytes.Split(n.data, []byte("\n")) {
					if len(bytes.TrimSpace(line)) > 0 {
						n.recs = append(n.recs, decodeLine(n.commit, j+1, line))
					}
				}
			}
		}()
	}
	var readErr error
	for commit, blob := range notes {
		if readErr = ctx.Err(); readErr != nil {
			break
		}
		data, err := repo.Blob(blob)
		if err != nil {
			readErr = fmt.Errorf("read audit records: %w", err)
			break
		}
		n := &note{commit: commit.String(), data: data}
		all = append(all, n)
		work <- n
	}
	close(work)
	wg.Wait()
	if readErr != nil {
		return nil, readErr
	}
	for _, n := range all {
		log.Records = append(log.Records, n.recs...)
		log.ByCommit[n.commit] = n.recs
	}
	sortRecords(log.Records)
	return log, nil
}

// sortRecords puts records in chain order: by seq, undecodable ones last,
// then by commit and line.
func sortRecords(recs []*Record) {
	slices.SortStableFunc(recs, func(a, b *Record) int {
		as, bs := a.Chain.Seq, b.Chain.Seq
		if as == 0 {
			as = 1 << 62
		}
		if bs == 0 {
			bs = 1 << 62
		}
		if as != bs {
			return cmp.Compare(as, bs)
		}
		if a.Commit != b.Commit {
			return strings.Compare(a.Commit, b.Commit)
		}
		return a.Line - b.Line
	})
}

// Of returns the records of kind k in chain order.
func (l *Log) Of(k Kind) []*Record {
	var out []*Record
	for _, r := range l.Records {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}

// parallel calls fn(0..n-1) on GOMAXPROCS goroutines (the caller's one
// included), which take the indexes in chunks of up to 64 from a shared
// counter: a channel send per index cost more than a small fn, and every
// goroutine gets a few chunks to balance uneven ones.
func parallel(n int, fn func(i int)) {
	procs := runtime.GOMAXPROCS(0)
	chunk := max(1, min(64, n/(4*procs)))
	var next atomic.Int64
	work := func() {
		for {
			end := int(next.Add(int64(chunk)))
			start := end - chunk
			if start >= n {
				return
			}
			for i := start; i < min(end, n); i++ {
				fn(i)
			}
		}
	}
	var wg sync.WaitGroup
	for range min(procs, (n+chunk-1)/chunk) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
