package gate

import (
	"bytes"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// baseTemplate is the value of an input's base parts — its config and
// rings, which come from the base commit and so are the same for every
// change judged against that base — kept by the Engine for the next
// decision. key is their canonical JSON, byte for byte: a decision reuses
// the values only when its own config and rings encode to exactly these
// bytes, so any change of any byte of them builds the values anew. Inputs
// whose base parts hold a string that is not valid UTF-8 (which the JSON
// writes as U+FFFD, so two different strings give the same bytes) neither
// use nor make a template.
type baseTemplate struct {
	key           []byte
	config, rings *ast.Term
}

// memberTemplate is the value of one of an input's per-change parts (the
// change, the pull request, its reviews, the evidence) kept by the Engine
// for the next decision, on the same terms as baseTemplate: key is the
// part's canonical JSON, and a decision reuses the value only when its own
// part encodes to exactly these bytes and holds no string that is not
// valid UTF-8. A pull request is decided again and again as reviews and
// evidence arrive, with most of its parts unchanged; a decision on
// another pull request builds its parts and replaces the templates.
type memberTemplate struct {
	key  []byte
	term *ast.Term
}

// inputValue is in's Rego value. canon is in's canonical JSON and parts
// the place of its parts in it (see canonicalParts): the config and rings
// come from e.base, the other parts from e.parts, when their bytes are
// the last decision's. The terms of a template are shared by every
// decision that reuses it, concurrent ones included; the evaluation only
// reads its input.
//
// The converter's first slab has as many terms as the last decision used
// (e.terms), not 128: a decision on the templates of the benchmark input
// uses a handful, and the rest were garbage per decision.
func (e *Engine) inputValue(in Input, canon []byte, parts canonParts) ast.Value {
	c := &converter{first: int(e.terms.Load())}
	defer func() { e.terms.Store(int32(min(c.used, maxFirstSlab))) }()
	var config, rings *ast.Term
	baseJSON := canon[parts.span[partBase][0]:parts.span[partBase][1]]
	switch t := e.base.Load(); {
	case parts.lossy[partBase]:
		config, rings = c.config(in.Config), array(c, in.Rings, (*converter).ring)
	case t != nil && bytes.Equal(t.key, baseJSON):
		config, rings = t.config, t.rings
	default:
		t = &baseTemplate{key: bytes.Clone(baseJSON), config: c.config(in.Config), rings: array(c, in.Rings, (*converter).ring)}
		e.base.Store(t)
		config, rings = t.config, t.rings
	}
	var terms [nParts]*ast.Term
	for i := partChange; i < nParts; i++ {
		if parts.lossy[i] {
			continue // built by c.input
		}
		key := canon[parts.span[i][0]:parts.span[i][1]]
		if t := e.parts[i].Load(); t != nil && bytes.Equal(t.key, key) {
			terms[i] = t.term
			continue
		}
		terms[i] = c.part(in, i)
		e.parts[i].Store(&memberTemplate{key: bytes.Clone(key), term: terms[i]})
	}
	return c.input(in, config, rings, terms)
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
