package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPathJSONLines(t *testing.T) {
	r := realReport(t, 743)
	var lines []string
	for i := range 3 {
		r.HostID = fmt.Sprintf("host-%d", i)
		lines = append(lines, string(marshal(t, r)))
	}
	good := strings.Join(lines, "\n") + "\n\n"
	bad := strings.Replace(lines[0], `"version":"1:2.38.1-5+deb12u3"`, `"version":""`, 1)
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Sequential and parallel decoding behave the same.
	for _, w := range []int{0, 4} {
		t.Run(fmt.Sprintf("workers=%d", w), func(t *testing.T) {
			t.Run("good", func(t *testing.T) {
				p := write("good.jsonl", good)
				dec := &Decoder{Cache: NewSetCache(), Workers: w}
				var hosts []string
				var sets []*PackageSet
				err := ReadPath(context.Background(), p, dec, func(r *Report) error {
					hosts = append(hosts, r.HostID)
					sets = append(sets, r.Packages)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(hosts, ",") != "host-0,host-1,host-2" || sets[0] != sets[2] || dec.Cache.Len() != 1 {
					t.Errorf("hosts %v, cache %d", hosts, dec.Cache.Len())
				}
			})
			t.Run("bad line", func(t *testing.T) {
				p := write("bad.jsonl", good+bad+"\n")
				n := 0
				err := ReadPath(context.Background(), p, &Decoder{Workers: w}, func(*Report) error { n++; return nil })
				var le *LineError
				if !errors.As(err, &le) || le.Line != 5 || le.File != p || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), ":5: packages[") {
					t.Fatalf("got %v; want an error at %s:5", err, p)
				}
				if n != 3 {
					t.Errorf("%d reports before the error, want 3", n)
				}
			})
			t.Run("syntax", func(t *testing.T) {
				p := write("syntax.jsonl", lines[0]+"\n"+`{"hostId": }`+"\n")
				err := ReadPath(context.Background(), p, &Decoder{Workers: w}, func(*Report) error { return nil })
				var le *LineError
				if !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "column 12") {
					t.Fatalf("got %v; want a syntax error at line 2 column 12", err)
				}
			})
			t.Run("line too long", func(t *testing.T) {
				p := write("long.jsonl", good)
				err := ReadPath(context.Background(), p, &Decoder{MaxBytes: len(lines[0]) - 1, Workers: w}, func(*Report) error { return nil })
				var le *LineError
				if !errors.As(err, &le) || le.Line != 1 || !errors.Is(err, ErrTooLarge) {
					t.Fatalf("got %v; want ErrTooLarge at line 1", err)
				}
			})
			t.Run("cancelled", func(t *testing.T) {
				p := write("c.jsonl", good)
				ctx, cancel := context.WithCancel(context.Background())
				n := 0
				err := ReadPath(ctx, p, &Decoder{Workers: w}, func(*Report) error { n++; cancel(); return nil })
				if !errors.Is(err, context.Canceled) || n != 1 {
					t.Fatalf("got %v after %d reports", err, n)
				}
			})
		})
	}
}

// TestReadPathParallelOrder: with several workers, reports still arrive in
// line order and nothing after the first bad line reaches the callback.
func TestReadPathParallelOrder(t *testing.T) {
	r := realReport(t, 50)
	var b strings.Builder
	for i := range 200 {
		r.HostID = fmt.Sprintf("host-%03d", i)
		line := string(marshal(t, r))
		if i == 150 {
			line = `{"hostId": "broken"`
		}
		b.WriteString(line + "\n")
	}
	p := filepath.Join(t.TempDir(), "fleet.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := ReadPath(context.Background(), p, &Decoder{Cache: NewSetCache(), Workers: 4}, func(r *Report) error {
		got = append(got, r.HostID)
		return nil
	})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 151 {
		t.Fatalf("got %v, want an error at line 151", err)
	}
	if len(got) != 150 {
		t.Fatalf("%d reports before the error, want 150", len(got))
	}
	for i, id := range got {
		if id != fmt.Sprintf("host-%03d", i) {
			t.Fatalf("report %d is %s: out of order", i, id)
		}
	}
}

func TestReadPathDirectory(t *testing.T) {
	r := realReport(t, 743)
	dir := t.TempDir()
	r.HostID = "a"
	indented, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	r.HostID = "b"
	files := map[string]string{"a.json": string(indented), "b.jsonl": string(marshal(t, r)) + "\n", "README.md": "not a report", "c.txt": "{"}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var hosts []string
	if err := ReadPath(context.Background(), dir, nil, func(r *Report) error { hosts = append(hosts, r.HostID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(hosts, ",") != "a,b" {
		t.Errorf("hosts %v, want a,b", hosts)
	}
	// A bad .json file names the file and the line inside it.
	if err := os.WriteFile(filepath.Join(dir, "z.json"), []byte("{\n\"hostId\": \"x\",\n\"bogus\": 1}"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = ReadPath(context.Background(), dir, nil, func(*Report) error { return nil })
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "z.json") || !strings.Contains(err.Error(), "bogus: unknown field") {
		t.Fatalf("got %v", err)
	}
}
