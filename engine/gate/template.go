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

// inputValue is in's Rego value. baseJSON is the canonical JSON of in's
// config and rings, lossy whether it lost a string (see baseTemplate).
// The terms of a template are shared by every decision that reuses it,
// concurrent ones included; the evaluation only reads its input.
//
// The converter's first slab has as many terms as the last decision used
// (e.terms), not 128: a decision on the template of the benchmark input
// uses 68, and the 60 left over were 1.4 KB of garbage per decision.
func (e *Engine) inputValue(in Input, baseJSON []byte, lossy bool) ast.Value {
	c := &converter{first: int(e.terms.Load())}
	defer func() { e.terms.Store(int32(min(c.used, maxFirstSlab))) }()
	if lossy {
		return c.input(in, c.config(in.Config), array(c, in.Rings, (*converter).ring))
	}
	if t := e.base.Load(); t != nil && bytes.Equal(t.key, baseJSON) {
		return c.input(in, t.config, t.rings)
	}
	t := &baseTemplate{key: bytes.Clone(baseJSON), config: c.config(in.Config), rings: array(c, in.Rings, (*converter).ring)}
	e.base.Store(t)
	return c.input(in, t.config, t.rings)
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
