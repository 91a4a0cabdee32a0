package gate

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// value builds the input's Rego value straight from the typed input, without
// encoding and decoding its JSON or a generic map in between. It is the same
// value ast.ValueFromReader gives for the canonical JSON (TestValueMatchesJSON,
// TestValueCoversEveryField), because both follow the same json tags: one
// converter walks every input struct by a plan made once per type, with the
// object keys as terms made once and shared by every decision. in must be
// normalized.
func (in Input) value() ast.Value {
	var c converter
	return c.toTerm(reflect.ValueOf(in)).Value
}

var timeType = reflect.TypeFor[time.Time]()

// structPlan is how one struct type becomes a Rego object: its fields with
// their JSON names as ready-made key terms.
type structPlan struct {
	fields []planField
}

type planField struct {
	index int
	key   *ast.Term
}

var plans sync.Map // reflect.Type → *structPlan

// planOf returns t's plan. The input types have a plain JSON name on every
// field; an option (omitempty, string) or a missing tag would make the JSON
// and the value differ, so it panics (TestValueCoversEveryField finds it).
func planOf(t reflect.Type) *structPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*structPlan)
	}
	p := &structPlan{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		if tag == "" || strings.Contains(tag, ",") || !f.IsExported() {
			panic(fmt.Sprintf("gate: input field %s.%s needs a plain json tag", t.Name(), f.Name))
		}
		p.fields = append(p.fields, planField{index: i, key: ast.InternedTerm(tag)})
	}
	p2, _ := plans.LoadOrStore(t, p)
	return p2.(*structPlan)
}

// converter makes the terms of one input value. Its terms come from slabs
// (one allocation per 128 terms instead of one per term) and the key-value
// pairs of an object under construction from one scratch stack; the input
// value is built once per decision and lives as long as its evaluation.
type converter struct {
	slab    []ast.Term
	scratch [][2]*ast.Term
}

func (c *converter) term(v ast.Value) *ast.Term {
	if len(c.slab) == 0 {
		c.slab = make([]ast.Term, 128)
	}
	t := &c.slab[0]
	c.slab = c.slab[1:]
	t.Value = v
	return t
}

func stringValue(s string) ast.Value { return ast.String(s) }

// toTerm converts one input value as encoding/json would encode it: structs
// by their json tags, times as RFC 3339 with nanoseconds, nil maps and
// slices as null (normalized inputs have none where policies iterate).
func (c *converter) toTerm(v reflect.Value) *ast.Term {
	switch v.Kind() {
	case reflect.String:
		return c.term(ast.InternedValueOr(v.String(), stringValue))
	case reflect.Bool:
		return ast.InternedTerm(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ast.InternedTerm(int(v.Int()))
	case reflect.Float64:
		return c.term(ast.Number(strconv.FormatFloat(v.Float(), 'g', -1, 64)))
	case reflect.Slice:
		if v.IsNil() {
			return ast.NullTerm()
		}
		ts := make([]*ast.Term, v.Len())
		for i := range ts {
			ts[i] = c.toTerm(v.Index(i))
		}
		return c.term(ast.NewArray(ts...))
	case reflect.Map:
		if v.IsNil() {
			return ast.NullTerm()
		}
		start := len(c.scratch)
		for it := v.MapRange(); it.Next(); {
			k := c.term(ast.InternedValueOr(it.Key().String(), stringValue))
			c.scratch = append(c.scratch, [2]*ast.Term{k, c.toTerm(it.Value())})
		}
		return c.object(start)
	case reflect.Struct:
		if v.Type() == timeType {
			return c.term(ast.String(v.Interface().(time.Time).Format(time.RFC3339Nano)))
		}
		p := planOf(v.Type())
		start := len(c.scratch)
		for _, f := range p.fields {
			// The value first: it may push and pop pairs of its own.
			val := c.toTerm(v.Field(f.index))
			c.scratch = append(c.scratch, [2]*ast.Term{f.key, val})
		}
		return c.object(start)
	}
	panic("gate: input value of kind " + v.Kind().String() + " has no Rego form; " + strconv.Quote(v.Type().String()))
}

// object makes an object of the pairs pushed since start and pops them
// (ast.NewObject copies them).
func (c *converter) object(start int) *ast.Term {
	o := ast.NewObject(c.scratch[start:]...)
	clear(c.scratch[start:])
	c.scratch = c.scratch[:start]
	return c.term(o)
}
