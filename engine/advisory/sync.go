package advisory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// FeedSource is one feed to fetch into the cache.
type FeedSource struct {
	// Name is the file's path inside the cache ("debian-12/0-json").
	Name string
	URL  string
}

// meta is what the cache remembers of a fetched file, beside it as
// <name>.meta.json: enough for a conditional request next time.
type meta struct {
	URL          string    `json:"url"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"lastModified,omitempty"`
	Fetched      time.Time `json:"fetched"`
	SHA256       string    `json:"sha256"`
	Bytes        int64     `json:"bytes"`
}

// SyncOptions tune Sync.
type SyncOptions struct {
	// Client does the requests; nil means a client with a 10-minute timeout.
	Client *http.Client
	// MaxBytes bounds one download, compressed and after decompression;
	// 0 means MaxTrackerBytes.
	MaxBytes int64
	// Progress, when set, is called as a download advances (total is -1
	// when the server did not say).
	Progress func(name string, done, total int64)
	// Now stamps the cache metadata.
	Now func() time.Time
}

// SyncResult says what happened to one source.
type SyncResult struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Status string `json:"status"` // "updated", "not-modified"
	Bytes  int64  `json:"bytes"`
	// Documents counts the feed documents the file holds (zip members).
	Documents int `json:"documents"`
}

// ErrFetch: a feed could not be fetched; the cached copy, if any, is kept.
var ErrFetch = errors.New("fetch feed")

// Sources lists the configured feeds in a stable order: per host stream,
// then KEV, then EPSS.
func Sources(streams map[string][]string, kev, epss string) []FeedSource {
	var out []FeedSource
	keys := make([]string, 0, len(streams))
	for k := range streams {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, s := range keys {
		for i, u := range streams[s] {
			out = append(out, FeedSource{Name: s + "/" + fmt.Sprint(i) + "-" + safeBase(u), URL: u})
		}
	}
	if kev != "" {
		out = append(out, FeedSource{Name: "kev/" + safeBase(kev), URL: kev})
	}
	if epss != "" {
		out = append(out, FeedSource{Name: "epss/" + safeBase(epss), URL: epss})
	}
	return out
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeBase(u string) string {
	b := path.Base(strings.SplitN(strings.SplitN(u, "?", 2)[0], "#", 2)[0])
	b = unsafeChars.ReplaceAllString(b, "_")
	if b == "" || b == "." || b == "_" {
		b = "feed"
	}
	return b
}

// Sync fetches every source into dir with a conditional request, and
// replaces a cached file only after the new one was read whole, unpacked
// and parsed: a truncated or malformed download leaves the previous copy
// in place. It stops at the first failure.
func Sync(ctx context.Context, dir string, sources []FeedSource, opts SyncOptions) ([]SyncResult, error) {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Minute}
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = MaxTrackerBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var out []SyncResult
	for _, s := range sources {
		r, err := syncOne(ctx, dir, s, opts)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func syncOne(ctx context.Context, dir string, s FeedSource, opts SyncOptions) (SyncResult, error) {
	res := SyncResult{Name: s.Name, URL: s.URL}
	dst := filepath.Join(dir, filepath.FromSlash(s.Name))
	var old meta
	if b, err := os.ReadFile(dst + ".meta.json"); err == nil {
		_ = json.Unmarshal(b, &old)
	}
	_, statErr := os.Stat(dst)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return res, fmt.Errorf("%w %s: %v", ErrFetch, s.URL, err)
	}
	if statErr == nil && old.URL == s.URL {
		if old.ETag != "" {
			req.Header.Set("If-None-Match", old.ETag)
		}
		if old.LastModified != "" {
			req.Header.Set("If-Modified-Since", old.LastModified)
		}
	}
	req.Header.Set("User-Agent", "patchbay-advisories-sync")
	resp, err := opts.Client.Do(req)
	if err != nil {
		return res, fmt.Errorf("%w %s: %v", ErrFetch, s.URL, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		res.Status, res.Bytes = "not-modified", old.Bytes
		return res, nil
	case http.StatusOK:
	default:
		return res, fmt.Errorf("%w %s: HTTP %s", ErrFetch, s.URL, resp.Status)
	}
	if resp.ContentLength > opts.MaxBytes {
		return res, fmt.Errorf("%w %s: %w: %d bytes announced, the limit is %d", ErrFetch, s.URL, ErrTooLarge, resp.ContentLength, opts.MaxBytes)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return res, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.part")
	if err != nil {
		return res, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	pr := &progressReader{r: io.LimitReader(resp.Body, opts.MaxBytes+1), name: s.Name, total: resp.ContentLength, fn: opts.Progress}
	n, err := io.Copy(io.MultiWriter(tmp, h), pr)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("%w %s: after %d bytes: %v (the cached copy is kept)", ErrFetch, s.URL, n, err)
	}
	if n > opts.MaxBytes {
		return res, fmt.Errorf("%w %s: %w: more than %d bytes", ErrFetch, s.URL, ErrTooLarge, opts.MaxBytes)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return res, fmt.Errorf("%w %s: truncated: %d of %d bytes (the cached copy is kept)", ErrFetch, s.URL, n, resp.ContentLength)
	}
	// Parse before replacing: the cache only ever holds feeds that read.
	docs, err := checkFeedFile(tmp.Name(), s.Name, opts.MaxBytes)
	if err != nil {
		return res, fmt.Errorf("%s: %w (the cached copy is kept)", s.URL, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return res, err
	}
	m := meta{URL: s.URL, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"), Fetched: opts.Now().UTC(), SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n}
	if err := writeMeta(dst, m); err != nil {
		return res, err
	}
	res.Status, res.Bytes, res.Documents = "updated", n, docs
	return res, nil
}

// checkFeedFile unpacks and parses a downloaded file (OSV records against
// the schema) and returns the number of documents in it.
func checkFeedFile(p, name string, limit int64) (int, error) {
	ents, err := readFeed(p, limit)
	if err != nil {
		return 0, err
	}
	db := &DB{}
	for _, e := range ents {
		if _, err := db.Add(name+strings.TrimPrefix(e.name, p), e.data, true); err != nil {
			return 0, err
		}
	}
	return len(ents), nil
}

func writeMeta(dst string, m meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := dst + ".meta.json.part"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, dst+".meta.json")
}

// Import copies feed files (a file, or every file under a directory) into
// the cache's imported/ folder after recognising and parsing each one by
// its content. It returns the cache names written.
func Import(ctx context.Context, dir string, from string) ([]SyncResult, error) {
	var files []string
	st, err := os.Stat(from)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", from, err)
	}
	if st.IsDir() {
		err = filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", from, err)
		}
	} else {
		files = []string{from}
	}
	var out []SyncResult
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		docs, err := checkFeedFile(f, f, MaxTrackerBytes)
		if err != nil {
			return out, fmt.Errorf("import: %w", err)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return out, err
		}
		sum := sha256.Sum256(data)
		name := "imported/" + hex.EncodeToString(sum[:4]) + "-" + safeBase(filepath.Base(f))
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return out, err
		}
		tmp := dst + ".part"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return out, err
		}
		if err := os.Rename(tmp, dst); err != nil {
			return out, err
		}
		out = append(out, SyncResult{Name: name, URL: "file:" + filepath.Base(f), Status: "imported", Bytes: int64(len(data)), Documents: docs})
	}
	return out, nil
}

type progressReader struct {
	r           io.Reader
	name        string
	done, total int64
	last        int64
	fn          func(string, int64, int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.fn != nil && (p.done-p.last >= 1<<20 || err == io.EOF) {
		p.last = p.done
		p.fn(p.name, p.done, p.total)
	}
	return n, err
}
