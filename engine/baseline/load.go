package baseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/patchbay/patchbay/schemas"
)

// Limits of what Load reads.
const (
	// MaxFileSize is the largest file Load reads.
	MaxFileSize = 1 << 20
	// MaxFiles is the most files a repository may hold.
	MaxFiles = 10000
)

// schemaPrefix marks the embedded schema files in CUE positions, so that
// errors point at the user's files instead.
const schemaPrefix = "(patchbay schema)/"

// topLevel are the fields a patch repository may declare.
var topLevel = [...]string{"config", "baselines", "rings", "exceptions"}

// folders maps a repository folder to the top-level field its files declare.
var folders = map[string]string{"baselines": "baselines", "rings": "rings", "exceptions": "exceptions"}

// Options control Load.
type Options struct {
	// Now is the moment exception expiry is judged against. Required.
	Now time.Time
	// ExpiryAsFinding reports an expired exception in
	// Repository.TimeFindings instead of failing the load; the exception
	// then simply no longer counts (Exception.Active). The gate loads the
	// base commit this way, so that an exception expiring on the main
	// branch does not block the pull request that renews or removes it,
	// and the server keeps serving the model.
	ExpiryAsFinding bool
}

// LoadDir loads the patch repository in a directory.
func LoadDir(ctx context.Context, dir string, opts Options) (*Repository, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open patch repository: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open patch repository: %s is not a directory", dir)
	}
	// os.Root keeps every open inside dir even if a file is swapped for a
	// symbolic link after the walk refused links.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open patch repository: %w", err)
	}
	defer root.Close()
	return Load(ctx, root.FS(), opts)
}

// Load reads, validates and decodes the patch repository at the root of
// fsys. It returns Errors (wrapping ErrInvalid) listing every problem when the
// repository is invalid, and ErrTooLarge when it exceeds the limits.
func Load(ctx context.Context, fsys fs.FS, opts Options) (*Repository, error) {
	if opts.Now.IsZero() {
		return nil, errors.New("load patch repository: Options.Now is required")
	}
	l := &loader{fsys: fsys, now: opts.Now, expiryAsFinding: opts.ExpiryAsFinding, entities: map[string]token.Pos{}}
	if err := l.readFiles(ctx); err != nil {
		return nil, err
	}
	repo := l.evaluate()
	if len(l.errs) > 0 {
		return nil, sortErrors(l.errs)
	}
	if repo == nil {
		return nil, errors.New("load patch repository: evaluation failed without an error (please report this)")
	}
	if len(l.timeFindings) > 0 {
		repo.TimeFindings = sortErrors(l.timeFindings)
	}
	return repo, nil
}

type loader struct {
	fsys fs.FS
	now  time.Time
	// expiryAsFinding and timeFindings: see Options.ExpiryAsFinding.
	expiryAsFinding bool
	timeFindings    []Error
	// cueFiles are the parsed user files.
	cueFiles []*ast.File
	policies []File
	// entities maps "rings.canary" etc. to where the file declares it.
	entities map[string]token.Pos
	// refs are the baselines rings pin, as written in the ring files.
	refs []ref
	// sources keeps the user files' bytes, to quote values in errors.
	sources map[string][]byte
	value   cue.Value
	errs    []Error
	// broken are the entities with schema errors: stubbed, not decoded.
	broken map[string]bool
	// extends maps a baseline ("baselines.x") to the id it extends, as
	// written in its file.
	extends map[string]string
	// skip are entities that are not decoded because an error reported
	// elsewhere (a ring pinning a missing baseline) makes them undecodable.
	skip map[string]bool
}

func (l *loader) add(e Error) { l.errs = append(l.errs, e) }

// readFiles walks the repository, enforces the limits, parses every CUE file
// on its own (a syntax error in one file hides nothing in another) and keeps
// policy/*.rego.
func (l *loader) readFiles(ctx context.Context) error {
	var names []string
	count := 0
	err := fs.WalkDir(l.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "cue.mod") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			// A symbolic link, FIFO, device or socket: never followed or
			// opened (a link could point at /proc/self/environ, a FIFO
			// would block). Refused where the loader reads.
			if readsPath(p) {
				l.add(Error{File: p, Message: fmt.Sprintf("%s: patchbay reads only regular files; replace it with the file's content", irregularKind(d.Type()))})
			}
			return nil
		}
		count++
		if count > MaxFiles {
			return fmt.Errorf("%w: more than %d files; keep only the patch repository (patchbay.cue, baselines/, rings/, exceptions/, policy/) in it", ErrTooLarge, MaxFiles)
		}
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case strings.HasSuffix(base, ".cue") && (dir == "" || folders[dir] != ""):
			names = append(names, p)
		case strings.HasSuffix(base, ".rego") && dir == "policy":
			names = append(names, p)
		}
		return ctx.Err()
	})
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return fmt.Errorf("read patch repository: %w", err)
	}
	sort.Strings(names)
	if !hasFile(names, "patchbay.cue") {
		// Without its config nothing else can be checked; one line says why.
		return Errors{{File: "patchbay.cue", Message: "not a patch repository (no patchbay.cue): point -C at the repository's root, or run 'patchbay init DIR' for a skeleton"}}
	}
	for _, p := range names {
		src, err := l.readFile(p)
		if err != nil {
			if errors.Is(err, ErrTooLarge) || errors.Is(err, errIrregular) {
				l.add(Error{File: p, Message: err.Error()})
				continue
			}
			return err
		}
		if strings.HasSuffix(p, ".rego") {
			l.policies = append(l.policies, File{Path: p, Content: src})
			continue
		}
		if l.sources == nil {
			l.sources = map[string][]byte{}
		}
		l.sources[p] = src
		f, err := parser.ParseFile(p, src, parser.ParseComments)
		if err != nil {
			l.addCUE(err)
			continue
		}
		if f.PackageName() != "patchbay" {
			l.add(Error{File: p, Line: 1, Column: 1, Message: fmt.Sprintf("package %q: every file of a patch repository is CUE package patchbay (add `package patchbay` as the first line)", f.PackageName())})
			continue
		}
		l.cueFiles = append(l.cueFiles, f)
	}
	return nil
}

// errIrregular marks a file that is not a regular file when opened.
var errIrregular = errors.New("not a regular file")

// readsPath reports whether p is a path the loader reads or a folder it
// walks: *.cue at the top and in baselines/, rings/, exceptions/,
// policy/*.rego, and those folders themselves.
func readsPath(p string) bool {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case dir == "" && (folders[base] != "" || base == "policy"):
		return true
	case strings.HasSuffix(base, ".cue") && (dir == "" || folders[dir] != ""):
		return true
	case strings.HasSuffix(base, ".rego") && dir == "policy":
		return true
	}
	return false
}

// irregularKind names a non-regular file's type for an error message.
func irregularKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0 || m&fs.ModeCharDevice != 0:
		return "a device file"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

func hasFile(names []string, want string) bool {
	for _, n := range names {
		if n == want {
			return true
		}
	}
	return false
}

func (l *loader) readFile(p string) ([]byte, error) {
	f, err := l.fsys.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s: patchbay reads only regular files", errIrregular, irregularKind(st.Mode()))
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%w: file is %d bytes, the limit is %d (1 MiB)", ErrTooLarge, st.Size(), MaxFileSize)
	}
	buf := make([]byte, 0, st.Size())
	b := make([]byte, 32*1024)
	for {
		n, err := f.Read(b)
		buf = append(buf, b[:n]...)
		if len(buf) > MaxFileSize {
			return nil, fmt.Errorf("%w: file is larger than %d bytes (1 MiB)", ErrTooLarge, MaxFileSize)
		}
		if err != nil {
			break
		}
	}
	return buf, nil
}

// evaluate builds one CUE instance of the user files and the schemas,
// validates it entity by entity (CUE reports more errors that way), decodes
// the model, runs the cross-checks and computes digests.
//
// A broken entity does not hide the others: once an entity has a schema
// error, it is replaced by an empty stub ({}) and the rest is evaluated again
// (CUE stops at the first conflict it meets, and the schema ties rings to
// baselines and exceptions to rings, so one broken baseline would otherwise
// silence every ring). The entities that validate are then decoded and
// cross-checked; what depends on a broken entity says so in one line.
func (l *loader) evaluate() *Repository {
	for _, f := range l.cueFiles {
		l.checkLayout(f)
	}
	l.checkRefs()
	l.broken = map[string]bool{}
	v := l.build()
	l.value = v
	// An instance-level error does not stop the per-entity checks below:
	// they find more.
	start := len(l.errs)
	l.addCUE(v.Err())

	// Unknown top-level fields.
	it, _ := v.Fields()
	for it.Next() {
		name := it.Selector().String()
		if !isTopLevel(name) {
			l.add(l.at(it.Value().Pos(), name, fmt.Sprintf("unknown top-level field %q: a patch repository declares config, baselines, rings and exceptions", name)))
		}
	}

	// Validate each entity on its own, then the whole.
	for _, p := range l.entityPaths() {
		l.addCUE(v.LookupPath(p).Validate(cue.Concrete(true)))
	}
	l.addCUE(v.Validate(cue.Concrete(true)))

	// Stub what is broken and evaluate the rest again, until nothing new
	// breaks. Config cannot be stubbed (everything refers to it).
	for round := 0; round <= len(l.entities) && len(l.errs) > start; round++ {
		newly := l.markBroken(l.errs[start:])
		if len(newly) == 0 || l.broken["config"] {
			break
		}
		v = l.build()
		l.value = v
		start = len(l.errs)
		for _, p := range l.entityPaths() {
			if !l.broken[p.String()] {
				l.addCUE(v.LookupPath(p).Validate(cue.Concrete(true)))
			}
		}
		// Errors of stubbed entities were reported in an earlier round; a
		// stub only adds "required field is missing".
		kept := l.errs[:start]
		for _, e := range l.errs[start:] {
			if !l.broken[l.entityOf(e.Path)] {
				kept = append(kept, e)
			}
		}
		l.errs = kept
	}
	if l.broken["config"] {
		l.add(Error{File: "patchbay.cue", Line: 1, Column: 1, Path: "config",
			Message: "not checked further: version syntax, host overlap, exceptions and dates are checked once config has no errors"})
		return nil
	}

	repo := &Repository{Policies: l.policies}
	if err := decode(v.LookupPath(cue.ParsePath("config")), &repo.Config); err != nil {
		l.add(Error{File: "patchbay.cue", Message: "decode config: " + err.Error()})
		return nil
	}
	repo.Baselines = map[string]*Baseline{}
	bit, _ := v.LookupPath(cue.ParsePath("baselines")).Fields()
	for bit.Next() {
		key := "baselines." + quoteLabel(bit.Selector().Unquoted())
		if l.broken[key] || l.skip[key] {
			continue
		}
		b := new(Baseline)
		if err := decode(bit.Value(), b); err != nil {
			l.add(l.at(bit.Value().Pos(), key, "decode: "+err.Error()))
			continue
		}
		digest, err := digestValue(bit.Value())
		if err != nil {
			l.add(l.at(bit.Value().Pos(), key, "digest: "+err.Error()))
			continue
		}
		b.Digest = digest
		b.File = l.fileOf(key)
		repo.Baselines[b.ID] = b
	}
	rings := map[string]*Ring{}
	rit, _ := v.LookupPath(cue.ParsePath("rings")).Fields()
	for rit.Next() {
		key := "rings." + quoteLabel(rit.Selector().Unquoted())
		if l.broken[key] || l.skip[key] {
			continue
		}
		r := new(Ring)
		if err := decode(rit.Value(), r); err != nil {
			l.add(l.at(rit.Value().Pos(), key, "decode: "+err.Error()))
			continue
		}
		r.File = l.fileOf(key)
		rings[r.Name] = r
	}
	for _, name := range repo.Config.Rings {
		if r := rings[name]; r != nil {
			repo.Rings = append(repo.Rings, r)
		}
	}
	eit, _ := v.LookupPath(cue.ParsePath("exceptions")).Fields()
	for eit.Next() {
		key := "exceptions." + quoteLabel(eit.Selector().Unquoted())
		if l.broken[key] || l.skip[key] {
			continue
		}
		e := new(Exception)
		if err := decode(eit.Value(), e); err != nil {
			l.add(l.at(eit.Value().Pos(), key, "decode: "+err.Error()))
			continue
		}
		e.File = l.fileOf(key)
		repo.Exceptions = append(repo.Exceptions, e)
	}
	sort.Slice(repo.Exceptions, func(i, j int) bool { return repo.Exceptions[i].ID < repo.Exceptions[j].ID })
	l.crossCheck(repo, rings)
	if len(l.errs) > 0 {
		return nil
	}
	return repo
}

// build builds the CUE instance of the user files and the schemas, with every
// broken entity replaced by an empty struct.
func (l *loader) build() cue.Value {
	inst := build.NewContext().NewInstance("patchbay", nil)
	for _, f := range l.cueFiles {
		if len(l.broken) > 0 {
			f = l.stubbed(f)
		}
		if err := inst.AddSyntax(f); err != nil {
			l.addCUE(err)
		}
	}
	schemaFiles, err := fs.Glob(schemas.FS, "*.cue")
	if err != nil {
		panic(err) // the embedded FS is fixed at build time
	}
	for _, name := range schemaFiles {
		src, err := fs.ReadFile(schemas.FS, name)
		if err != nil {
			panic(err)
		}
		f, err := parser.ParseFile(schemaPrefix+name, src)
		if err != nil {
			panic(fmt.Sprintf("embedded schema %s: %v", name, err))
		}
		if f.PackageName() != "patchbay" {
			continue // e.g. #Report, which describes host reports
		}
		if err := inst.AddSyntax(f); err != nil {
			panic(fmt.Sprintf("embedded schema %s: %v", name, err))
		}
	}
	return cuecontext.New().BuildInstance(inst)
}

// stubbed returns a copy of f in which every broken entity's value is {}.
// The entity keeps its name, so references to it (a ring's baseline, an
// exception's ring, a baseline's extends) still resolve.
func (l *loader) stubbed(f *ast.File) *ast.File {
	out := *f
	out.Decls = make([]ast.Decl, len(f.Decls))
	for i, decl := range f.Decls {
		out.Decls[i] = decl
		field, ok := decl.(*ast.Field)
		if !ok {
			continue
		}
		st, ok := field.Value.(*ast.StructLit)
		if !ok {
			continue
		}
		top, _, _ := ast.LabelName(field.Label)
		elts := make([]ast.Decl, len(st.Elts))
		changed := false
		for j, e := range st.Elts {
			elts[j] = e
			inner, ok := e.(*ast.Field)
			if !ok {
				continue
			}
			name, _, err := ast.LabelName(inner.Label)
			if err != nil || !l.broken[top+"."+quoteLabel(name)] {
				continue
			}
			stub := *inner
			stub.Value = &ast.StructLit{}
			elts[j] = &stub
			changed = true
		}
		if changed {
			nst := *st
			nst.Elts = elts
			nf := *field
			nf.Value = &nst
			out.Decls[i] = &nf
		}
	}
	return &out
}

// entityOf returns the declared entity ("rings.canary", "config") that holds
// data path p, or "" when none does.
func (l *loader) entityOf(p string) string {
	if p == "config" || strings.HasPrefix(p, "config.") {
		return "config"
	}
	best := ""
	for key := range l.entities {
		if (p == key || strings.HasPrefix(p, key+".")) && len(key) > len(best) {
			best = key
		}
	}
	return best
}

// markBroken records the entities that errs are about and returns those not
// known before.
func (l *loader) markBroken(errs []Error) []string {
	var newly []string
	for _, e := range errs {
		key := l.entityOf(e.Path)
		if key == "" || l.broken[key] {
			continue
		}
		l.broken[key] = true
		newly = append(newly, key)
	}
	return newly
}

func isTopLevel(name string) bool {
	for _, t := range topLevel {
		if t == name {
			return true
		}
	}
	return false
}

// entityPaths lists config and every baseline, ring and exception the files
// declare (taken from the syntax, so that an error in one entity cannot hide
// the others).
func (l *loader) entityPaths() []cue.Path {
	paths := []cue.Path{cue.ParsePath("config")}
	keys := make([]string, 0, len(l.entities))
	for k := range l.entities {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		paths = append(paths, cue.ParsePath(k))
	}
	return paths
}

// decode turns a validated CUE value into a Go value. The value has been
// validated with positions already; JSON is only the carrier here.
func decode(v cue.Value, into any) error {
	b, err := v.MarshalJSON()
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// checkLayout checks that a file in baselines/, rings/ or exceptions/
// declares exactly the entity its name says, and records where each entity
// is declared.
func (l *loader) checkLayout(f *ast.File) {
	dir, base := path.Split(f.Filename)
	dir = strings.TrimSuffix(dir, "/")
	want := folders[dir]
	stem := strings.TrimSuffix(base, ".cue")
	declared := 0
	for _, decl := range f.Decls {
		field, ok := decl.(*ast.Field)
		if !ok {
			continue
		}
		top, _, _ := ast.LabelName(field.Label)
		if want != "" && top != want {
			l.add(posError(field.Pos(), top, fmt.Sprintf("%s/%s may only declare %s: %q (found %s)", dir, base, want, stem, top)))
			continue
		}
		for _, inner := range entityLabels(field) {
			key := top + "." + quoteLabel(inner.name)
			if _, dup := l.entities[key]; !dup {
				l.entities[key] = inner.pos
			}
			declared++
			if top == "baselines" {
				if r, ok := stringField(inner.field, "extends"); ok {
					if id, err := literal.Unquote(r.Value); err == nil {
						if l.extends == nil {
							l.extends = map[string]string{}
						}
						l.extends[key] = id
					}
				}
			}
			if top == "rings" {
				if r, ok := stringField(inner.field, "baseline"); ok {
					l.refs = append(l.refs, ref{ring: inner.name, baseline: r.Value, pos: r.Pos()})
				}
			}
			if want != "" && inner.name != stem {
				l.add(posError(inner.pos, key, fmt.Sprintf("%s/%s declares %s %q; the file name must match: rename it to %s/%s.cue or change the id", dir, base, strings.TrimSuffix(want, "s"), inner.name, dir, inner.name)))
			}
		}
	}
	if want != "" && declared == 0 {
		l.add(Error{File: f.Filename, Line: 1, Column: 1, Message: fmt.Sprintf("declares no %s: expected %s: %q: {...}", strings.TrimSuffix(want, "s"), want, stem)})
	}
}

type label struct {
	name  string
	pos   token.Pos
	field *ast.Field
}

// ref is a ring's pinned baseline as written in its file.
type ref struct {
	ring, baseline string
	pos            token.Pos
}

// stringField finds `name: "literal"` in an entity's declaration
// (a ring's baseline, a baseline's extends).
func stringField(entity *ast.Field, name string) (*ast.BasicLit, bool) {
	st, ok := entity.Value.(*ast.StructLit)
	if !ok {
		return nil, false
	}
	for _, e := range st.Elts {
		f, ok := e.(*ast.Field)
		if !ok {
			continue
		}
		if n, _, _ := ast.LabelName(f.Label); n != name {
			continue
		}
		lit, ok := f.Value.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return nil, false
		}
		return lit, true
	}
	return nil, false
}

// checkRefs checks from the syntax that every ring pins a declared baseline.
// The schema says the same in CUE (so `cue vet` agrees), but CUE cannot say
// it while any baseline is broken; this check can, and its message names the
// baselines that exist.
func (l *loader) checkRefs() {
	var ids []string
	for k := range l.entities {
		if id, ok := strings.CutPrefix(k, "baselines."); ok {
			ids = append(ids, strings.Trim(id, `"`))
		}
	}
	sort.Strings(ids)
	for _, r := range l.refs {
		id, err := literal.Unquote(r.baseline)
		if err != nil {
			continue
		}
		found := false
		for _, b := range ids {
			found = found || b == id
		}
		if !found {
			known := "none loaded"
			if len(ids) > 0 {
				known = strings.Join(ids, ", ")
			}
			if l.skip == nil {
				l.skip = map[string]bool{}
			}
			l.skip["rings."+quoteLabel(r.ring)] = true
			l.add(posError(r.pos, "rings."+quoteLabel(r.ring)+".baseline", fmt.Sprintf("pins baseline %q, which does not exist (baselines: %s)", id, known)))
		}
	}
}

// entityLabels returns the labels one level below a top-level field:
// `rings: canary: {...}` gives canary.
func entityLabels(field *ast.Field) []label {
	var out []label
	st, ok := field.Value.(*ast.StructLit)
	if !ok {
		return nil
	}
	for _, e := range st.Elts {
		if f, ok := e.(*ast.Field); ok {
			if name, _, err := ast.LabelName(f.Label); err == nil {
				out = append(out, label{name: name, pos: f.Label.Pos(), field: f})
			}
		}
	}
	return out
}

// quoteLabel renders a label as CUE prints it in paths.
func quoteLabel(s string) string {
	return cue.MakePath(cue.Str(s)).String()
}

// fileOf returns the file that declares an entity ("rings.canary").
func (l *loader) fileOf(entity string) string {
	if p, ok := l.entities[entity]; ok {
		return p.Filename()
	}
	return ""
}

// at builds an Error at a CUE position, falling back to where the entity
// holding path is declared when pos is in the schema or unknown.
func (l *loader) at(pos token.Pos, p, msg string) Error {
	if pos.IsValid() && !strings.HasPrefix(pos.Filename(), schemaPrefix) {
		return posError(pos, p, msg)
	}
	return l.entityError(p, msg)
}

// entityError places an error at the declaration of the entity that holds
// path p (the longest declared prefix), or in patchbay.cue for config.
func (l *loader) entityError(p, msg string) Error {
	best := ""
	for key := range l.entities {
		if (p == key || strings.HasPrefix(p, key+".")) && len(key) > len(best) {
			best = key
		}
	}
	if best != "" {
		return posError(l.entities[best], p, msg)
	}
	if p == "config" || strings.HasPrefix(p, "config.") {
		return Error{File: "patchbay.cue", Path: p, Message: msg}
	}
	return Error{Path: p, Message: msg}
}

func posError(pos token.Pos, p, msg string) Error {
	return Error{File: pos.Filename(), Line: pos.Line(), Column: pos.Column(), Path: p, Message: msg}
}
