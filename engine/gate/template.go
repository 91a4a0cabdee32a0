package gate

import (
	"bytes"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// partTemplate is the value of one part of an input (see partConfig)
// kept by the Engine for the next decision. key is the part's canonical
// JSON, byte for byte: a decision reuses the value only when its own part
// encodes to exactly these bytes, so any change of any byte builds the
// value anew. A part holding a string that is not valid UTF-8 (which the
// JSON writes as U+FFFD, so two different strings give the same bytes)
// neither uses nor makes a template. The config and rings are the same for
// every change judged against one base; a pull request is decided again
// and again as reviews and evidence arrive, with most of its parts
// unchanged; a decision on another one builds its parts and replaces the
// templates.
type partTemplate struct {
	key  []byte
	term *ast.Term
}

// inputValue is in's Rego value. canon is in's canonical JSON and parts
// the place of its parts in it (see canonicalJSON): each part's value
// comes from e.parts when its bytes are the last decision's. The terms of
// a template are shared by every decision that reuses it, concurrent ones
// included; the evaluation only reads its input.
//
// The converter's first slab has as many terms as the last decision used
// (e.terms), not 128: a decision on the templates of the benchmark input
// uses a handful, and the rest were garbage per decision.
func (e *Engine) inputValue(in Input, canon []byte, parts canonParts) ast.Value {
	c := &converter{first: int(e.terms.Load())}
	defer func() { e.terms.Store(int32(min(c.used, maxFirstSlab))) }()
	var terms [nParts]*ast.Term
	for i := range nParts {
		if parts.lossy[i] {
			continue // built by c.input
		}
		key := canon[parts.span[i][0]:parts.span[i][1]]
		if t := e.parts[i].Load(); t != nil && bytes.Equal(t.key, key) {
			terms[i] = t.term
			continue
		}
		terms[i] = c.part(in, i)
		e.parts[i].Store(&partTemplate{key: bytes.Clone(key), term: terms[i]})
	}
	return c.input(in, terms)
}

// maxFirstSlab bounds the first slab an unusually large input can ask of
// the next decision.
const maxFirstSlab = 4096

// canonBuffers hold the canonical JSON of an input while it is digested.
var canonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// putCanonBuffer returns b, which now holds canon, to the pool, unless an
// unusually large input made it grow past 64 KiB.
func putCanonBuffer(b *[]byte, canon []byte) {
	if cap(canon) <= 64<<10 {
		*b = canon[:0]
		canonBuffers.Put(b)
	}
}
