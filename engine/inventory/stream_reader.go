package inventory

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Reader reads reports from a JSON-lines stream: one report per line, blank
// lines skipped. Each line is bounded by the Decoder's MaxBytes before it is
// parsed. Errors are *LineError values naming the file and line.
type Reader struct {
	br   *bufio.Reader
	name string
	line int
	dec  *Decoder
	buf  []byte
}

// NewReader returns a Reader over r; name labels errors (a file name, or ""
// ). dec carries the limits and the cache; nil means a fresh Decoder.
func NewReader(r io.Reader, name string, dec *Decoder) *Reader {
	if dec == nil {
		dec = &Decoder{}
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), name: name, dec: dec}
}

// Next returns the next report, or io.EOF after the last one.
func (r *Reader) Next() (*Report, error) {
	limit := r.dec.maxBytes()
	for {
		r.line++
		r.buf = r.buf[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = r.br.ReadSlice('\n')
			if len(r.buf)+len(chunk) > limit+1 { // +1: the newline
				r.skipLine()
				return nil, &LineError{File: r.name, Line: r.line, Err: fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, limit)}
			}
			r.buf = append(r.buf, chunk...)
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", r.name, err)
		}
		line := bytes.TrimSpace(r.buf)
		if len(line) == 0 {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			continue
		}
		rep, derr := r.dec.Decode(line)
		if derr != nil {
			le := &LineError{File: r.name, Line: r.line, Err: derr}
			var inner *LineError
			if errors.As(derr, &inner) {
				le.Err, le.Text = inner.Err, inner.Text
			}
			return nil, le
		}
		return rep, nil
	}
}

// skipLine discards the rest of an over-long line.
func (r *Reader) skipLine() {
	for {
		_, err := r.br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// ReadPath reads every report under path and calls fn with each, in order,
// stopping at the first error (no partial inventory is accepted silently).
// A directory is read as its *.json files (one report each, possibly
// indented) and *.jsonl files (one report per line), in name order; other
// entries are ignored. A file ending in .json holds one report; any other
// file is JSON lines. A file that starts with the bulk header (see
// ReadBulk) is read as a bulk inventory whatever its name; a directory's
// *.pbinv files are read too. dec carries the limits and the cache; nil
// means a fresh Decoder.
func ReadPath(ctx context.Context, path string, dec *Decoder, fn func(*Report) error) error {
	if dec == nil {
		dec = &Decoder{}
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	if !st.IsDir() {
		return readFile(ctx, path, dec, fn)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".json") || strings.HasSuffix(e.Name(), ".jsonl") || strings.HasSuffix(e.Name(), BulkExt)) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if err := readFile(ctx, filepath.Join(path, n), dec, fn); err != nil {
			return err
		}
	}
	return nil
}

func readFile(ctx context.Context, path string, dec *Decoder, fn func(*Report) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	defer f.Close()
	if isBulkFile(f) {
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("read inventory: %w", err)
		}
		return ReadBulk(ctx, f, st.Size(), path, dec, fn)
	}
	if strings.HasSuffix(path, ".json") {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := dec.DecodeReader(f)
		if err != nil {
			var le *LineError
			if errors.As(err, &le) {
				le.File = path
				return le
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		return fn(r)
	}
	if dec.Workers > 1 {
		return readLinesParallel(ctx, f, path, dec, dec.Workers, fn)
	}
	rd := NewReader(f, path, dec)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}
