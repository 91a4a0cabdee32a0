package advisory

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"sort"
)

// feedEntry is one feed document inside a file: the file itself, or one
// member of a zip archive (osv.dev ships each ecosystem as all.zip).
type feedEntry struct {
	name string
	data []byte
}

// MaxZipMembers bounds the members read from one zip archive.
const MaxZipMembers = 1_000_000

// readFeed reads a feed file, gunzipping .gz content and opening zip
// archives (recognised by their magic bytes), never more than limit bytes
// after decompression in total.
func readFeed(p string, limit int64) ([]feedEntry, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("load advisories: %w", err)
	}
	defer f.Close()
	raw, err := readLimited(f, p, limit)
	if err != nil {
		return nil, err
	}
	return unpack(p, raw, limit)
}

// unpack turns raw file content into feed documents.
func unpack(name string, raw []byte, limit int64) ([]feedEntry, error) {
	switch {
	case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		data, err := readLimited(zr, name, limit)
		if err != nil {
			return nil, err
		}
		return []feedEntry{{name, data}}, nil
	case bytes.HasPrefix(raw, []byte("PK\x03\x04")):
		zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			return nil, fmt.Errorf("%s: zip: %w", name, err)
		}
		if len(zr.File) > MaxZipMembers {
			return nil, fmt.Errorf("%s: %w: %d zip members", name, ErrTooLarge, len(zr.File))
		}
		files := append([]*zip.File(nil), zr.File...)
		sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
		var out []feedEntry
		total := int64(0)
		for _, zf := range files {
			if zf.FileInfo().IsDir() {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				return nil, fmt.Errorf("%s: zip member %s: %w", name, zf.Name, err)
			}
			data, err := readLimited(rc, name+"!"+zf.Name, limit-total)
			rc.Close()
			if err != nil {
				return nil, err
			}
			total += int64(len(data))
			out = append(out, feedEntry{name + "!" + zf.Name, data})
		}
		return out, nil
	}
	return []feedEntry{{name, raw}}, nil
}
