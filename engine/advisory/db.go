package advisory

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// DB is a set of loaded feeds: advisories, the KEV catalogue and EPSS scores.
type DB struct {
	Advisories []*Advisory
	// KEV and EPSS are nil when no such feed was loaded.
	KEV  *KEV
	EPSS *EPSS
	// Files lists what was loaded, in load order.
	Files []LoadedFile
}

// LoadedFile says what one file contributed.
type LoadedFile struct {
	Path    string `json:"path"`
	Format  Format `json:"format"`
	Records int    `json:"records"`
}

// Add recognises data by its content, parses it and adds it to the DB.
func (db *DB) Add(name string, data []byte, validate bool) (Format, error) {
	f, err := Detect(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	n := 0
	switch f {
	case FormatOSV:
		a, err := ParseOSV(name, data, OSVOptions{Validate: validate})
		if err != nil {
			return f, err
		}
		db.Advisories = append(db.Advisories, a)
		n = 1
	case FormatDebianList:
		a, err := ParseDebianList(name, data, Limits{})
		if err != nil {
			return f, err
		}
		db.Advisories = append(db.Advisories, a)
		n = 1
	case FormatDebianTracker:
		as, err := ParseDebianTracker(name, data, Limits{})
		if err != nil {
			return f, err
		}
		db.Advisories = append(db.Advisories, as...)
		n = len(as)
	case FormatAlpineSecdb:
		as, err := ParseAlpineSecdb(name, data, Limits{})
		if err != nil {
			return f, err
		}
		db.Advisories = append(db.Advisories, as...)
		n = len(as)
	case FormatKEV:
		k, err := ParseKEV(name, data, Limits{})
		if err != nil {
			return f, err
		}
		db.mergeKEV(k)
		n = len(k.Entries)
	case FormatEPSS:
		e, err := ParseEPSS(name, data, Limits{})
		if err != nil {
			return f, err
		}
		db.mergeEPSS(e)
		n = len(e.Scores)
	}
	db.Files = append(db.Files, LoadedFile{Path: name, Format: f, Records: n})
	return f, nil
}

func (db *DB) mergeKEV(k *KEV) {
	if db.KEV == nil {
		db.KEV = k
		return
	}
	if k.Released.After(db.KEV.Released) {
		db.KEV.CatalogVersion, db.KEV.Released = k.CatalogVersion, k.Released
	}
	for id, e := range k.Entries {
		db.KEV.Entries[id] = e
	}
}

func (db *DB) mergeEPSS(e *EPSS) {
	if db.EPSS == nil {
		db.EPSS = e
		return
	}
	newer := e.ScoreDate.After(db.EPSS.ScoreDate)
	if newer {
		db.EPSS.Model, db.EPSS.ScoreDate = e.Model, e.ScoreDate
	}
	for id, s := range e.Scores {
		if _, ok := db.EPSS.Scores[id]; !ok || newer {
			db.EPSS.Scores[id] = s
		}
	}
}

// LoadDir loads every feed file under dir (recursively, in lexical order),
// skipping the cache's own bookkeeping files (names starting with "." and
// *.meta.json). A file that is not a feed is an error naming it.
func LoadDir(ctx context.Context, dir string, validate bool) (*DB, error) {
	db := &DB{}
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || strings.HasSuffix(name, ".meta.json") || strings.HasSuffix(name, ".md") || strings.HasSuffix(name, ".txt") || strings.HasSuffix(name, ".tsv") {
			return nil
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load advisories: %w", err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := db.addFile(p, validate); err != nil {
			return nil, err
		}
	}
	db.sort()
	return db, nil
}

// addFile adds every feed document of one file (a zip holds many).
func (db *DB) addFile(p string, validate bool) error {
	ents, err := readFeed(p, MaxTrackerBytes)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if _, err := db.Add(e.name, e.data, validate); err != nil {
			return err
		}
	}
	return nil
}

// LoadFiles loads the named files or directories.
func LoadFiles(ctx context.Context, paths []string, validate bool) (*DB, error) {
	db := &DB{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("load advisories: %w", err)
		}
		if st.IsDir() {
			sub, err := LoadDir(ctx, p, validate)
			if err != nil {
				return nil, err
			}
			db.Merge(sub)
			continue
		}
		if err := db.addFile(p, validate); err != nil {
			return nil, err
		}
	}
	db.sort()
	return db, nil
}

// Merge adds other's contents to db.
func (db *DB) Merge(other *DB) {
	db.Advisories = append(db.Advisories, other.Advisories...)
	if other.KEV != nil {
		db.mergeKEV(other.KEV)
	}
	if other.EPSS != nil {
		db.mergeEPSS(other.EPSS)
	}
	db.Files = append(db.Files, other.Files...)
}

func (db *DB) sort() {
	slices.SortStableFunc(db.Advisories, func(a, b *Advisory) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Feed, b.Feed)
	})
}
