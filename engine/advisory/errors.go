package advisory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Sentinel errors.
var (
	// ErrTooLarge: a feed file is larger than its format's limit.
	ErrTooLarge = errors.New("feed too large")
	// ErrUnknownFormat: Detect did not recognise the content.
	ErrUnknownFormat = errors.New("unknown feed format")
	// ErrMalformed: a feed file does not follow its format.
	ErrMalformed = errors.New("malformed feed")
	// ErrNothingToPropose: no advisory with a fix passes a proposal's
	// filters, so there is no baseline to write.
	ErrNothingToPropose = errors.New("no advisory with a fix passes the filters")
)

// ParseError is a problem in a feed file. Line and Col (1-based) are set for
// syntax errors; Path names the record (a JSON path such as
// "openssl/CVE-2024-0727/releases/bookworm/fixed_version" or a CSV line).
type ParseError struct {
	File string
	Line int
	Col  int
	Path string
	Msg  string
}

// Error returns "file:line:col: path: msg", leaving out what is unknown.
func (e *ParseError) Error() string {
	s := e.File
	if s == "" {
		s = "<input>"
	}
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col)
	}
	if e.Path != "" {
		s += ": " + e.Path
	}
	return s + ": " + e.Msg
}

// Unwrap makes every ParseError match ErrMalformed.
func (e *ParseError) Unwrap() error { return ErrMalformed }

// Limits bound what the parsers read. The zero value means the defaults.
type Limits struct {
	// MaxBytes bounds one feed file (after decompression).
	MaxBytes int64
}

// Default limits per format: generous for today's feeds, far from unbounded.
const (
	// MaxTrackerBytes bounds the Debian tracker JSON (about 80 MB in 2026).
	MaxTrackerBytes = 512 << 20
	// MaxRecordBytes bounds one OSV record or one parsed tracker record.
	MaxRecordBytes = 8 << 20
	// MaxSecdbBytes bounds one Alpine secdb file.
	MaxSecdbBytes = 64 << 20
	// MaxKEVBytes bounds the KEV catalogue (about 1.5 MB in 2025).
	MaxKEVBytes = 64 << 20
	// MaxEPSSBytes bounds the EPSS CSV (about 12 MB uncompressed in 2026).
	MaxEPSSBytes = 256 << 20
)

func (l Limits) max(def int64) int64 {
	if l.MaxBytes > 0 {
		return l.MaxBytes
	}
	return def
}

// readLimited reads all of r, refusing more than limit bytes.
func readLimited(r io.Reader, name string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrTooLarge, limit)
	}
	return data, nil
}

// position returns the 1-based line and column of byte offset off in data.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// decodeJSON unmarshals data into v and turns decoding errors into
// positioned ParseErrors.
func decodeJSON(name string, data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	return jsonError(name, data, err)
}

func jsonError(name string, data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		l, c := position(data, syn.Offset)
		return &ParseError{File: name, Line: l, Col: c, Msg: "invalid JSON: " + syn.Error()}
	case errors.As(err, &typ):
		l, c := position(data, typ.Offset)
		return &ParseError{File: name, Line: l, Col: c, Path: typ.Field, Msg: fmt.Sprintf("expected %s, found JSON %s", typ.Type, typ.Value)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		l, c := position(data, int64(len(data)))
		return &ParseError{File: name, Line: l, Col: c, Msg: "unexpected end of JSON"}
	}
	return &ParseError{File: name, Msg: err.Error()}
}
