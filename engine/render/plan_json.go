package render

import (
	"encoding"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/engine/plan"
)

// PlanJSON writes the plan as indented JSON (two spaces, one trailing
// newline), byte for byte what encoding/json's Encoder with SetIndent("",
// "  ") writes. The hosts, which are nearly all of a large plan, are
// written by hand straight into a buffer that is flushed as it fills; the
// rest goes through encoding/json. When a host type's fields are not the
// ones this encoder knows (plan changed its schema), the whole plan goes
// through encoding/json, so the output stays right, only slower.
func PlanJSON(w io.Writer, p *plan.Plan) error {
	if !planJSONKnown {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	j := &jsonOut{w: w, b: make([]byte, 0, 256<<10)}
	j.b = append(j.b, '{')
	top := []struct {
		key string
		v   any
	}{{"now", p.Now}, {"baselines", p.Baselines}, {"fleet", p.Fleet}, {"rings", p.Rings}, {"streams", p.Streams}, {"findings", p.Findings}}
	for i, f := range top {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.key(1, f.key)
		if err := j.marshal(f.v); err != nil {
			return err
		}
	}
	j.b = append(j.b, ',')
	j.key(1, "hosts")
	if p.Hosts.IsNull() {
		j.b = append(j.b, "null"...)
	} else if p.Hosts.Len() == 0 {
		j.b = append(j.b, "[]"...)
	} else {
		j.b = append(j.b, '[')
		for i, h := range p.Hosts.All() {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			j.nl(2)
			if err := j.host(2, &h); err != nil {
				return err
			}
			if len(j.b) > 192<<10 {
				if err := j.flush(); err != nil {
					return err
				}
			}
		}
		j.nl(1)
		j.b = append(j.b, ']')
	}
	j.b = append(j.b, ',')
	j.key(1, "stats")
	if err := j.marshal(p.Stats); err != nil {
		return err
	}
	j.b = append(j.b, "\n}\n"...)
	return j.flush()
}

// planJSONFields are the JSON tags of the types PlanJSON writes by hand, in
// field order, as it writes them.
var planJSONFields = map[reflect.Type]string{
	reflect.TypeFor[plan.Host]():     "id hostname,omitempty stream ring,omitempty candidates,omitempty status stale reportedAt baseline,omitempty baselineDigest,omitempty packageSet rebootRequired results actions risk nextDeadline,omitzero",
	reflect.TypeFor[plan.Result]():   "rule state installed,omitempty evidence deadline,omitzero deadlineBy,omitempty overdue,omitempty risk,omitempty exception,omitempty",
	reflect.TypeFor[plan.Rule]():     "kind name min,omitempty pin,omitempty hold,omitempty block,omitempty required,omitempty severity kev,omitempty advisories,omitempty published,omitempty reboot,omitempty refreshed,omitempty",
	reflect.TypeFor[plan.Observed](): "package arch version compared comparison state",
	reflect.TypeFor[plan.Action]():   "kind package,omitempty version,omitempty min,omitempty minSource,omitempty avoid,omitempty rules reason",
	reflect.TypeFor[plan.Plan]():     "now baselines fleet rings streams findings hosts stats",
}

var planJSONKnown = planJSONMatches()

// planJSONMatches reports whether the plan types still have exactly the
// fields (names, tags, kinds) the hand-written encoder writes.
func planJSONMatches() bool {
	kinds := map[reflect.Type]string{
		reflect.TypeFor[plan.Host]():     "string string string string slice string bool struct string string string bool slice slice int struct",
		reflect.TypeFor[plan.Result]():   "struct string slice string struct string bool int string",
		reflect.TypeFor[plan.Rule]():     "string string string string string slice bool string bool slice string bool string",
		reflect.TypeFor[plan.Observed](): "string string string string string string",
		reflect.TypeFor[plan.Action]():   "string string string string string slice slice string",
		reflect.TypeFor[plan.Plan]():     "struct slice struct slice slice slice struct struct",
	}
	for t, want := range planJSONFields {
		tags, ks := "", ""
		for i := range t.NumField() {
			f := t.Field(i)
			if i > 0 {
				tags += " "
				ks += " "
			}
			tags += f.Tag.Get("json")
			ks += f.Type.Kind().String()
			// time.Time and plan.Hosts (a JSON array of Host) are the
			// marshalers the encoder writes by hand.
			if f.Type != reflect.TypeFor[time.Time]() && f.Type != reflect.TypeFor[plan.Hosts]() {
				switch reflect.New(f.Type).Interface().(type) {
				case json.Marshaler, encoding.TextMarshaler:
					return false
				}
			}
		}
		if tags != want || ks != kinds[t] {
			return false
		}
	}
	return true
}

type jsonOut struct {
	w io.Writer
	b []byte
}

func (j *jsonOut) flush() error {
	_, err := j.w.Write(j.b)
	j.b = j.b[:0]
	return err
}

func (j *jsonOut) nl(depth int) {
	j.b = append(j.b, '\n')
	for range depth {
		j.b = append(j.b, ' ', ' ')
	}
}

func (j *jsonOut) key(depth int, k string) {
	j.nl(depth)
	j.b = append(j.b, '"')
	j.b = append(j.b, k...)
	j.b = append(j.b, '"', ':', ' ')
}

// field starts a field of an object at depth, after its first.
func (j *jsonOut) field(depth int, k string) {
	j.b = append(j.b, ',')
	j.key(depth, k)
}

// marshal appends v as encoding/json indents it at depth 1.
func (j *jsonOut) marshal(v any) error {
	data, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return err
	}
	j.b = append(j.b, data...)
	return nil
}

// str appends s as encoding/json writes it (with HTML escaping).
func (j *jsonOut) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			data, _ := json.Marshal(s)
			j.b = append(j.b, data...)
			return
		}
	}
	j.b = append(j.b, '"')
	j.b = append(j.b, s...)
	j.b = append(j.b, '"')
}

// time appends t as time.Time's MarshalJSON writes it (strict RFC 3339).
func (j *jsonOut) time(t time.Time) error {
	j.b = append(j.b, '"')
	var err error
	if j.b, err = t.AppendText(j.b); err != nil {
		return err
	}
	j.b = append(j.b, '"')
	return nil
}

func (j *jsonOut) boolean(v bool) { j.b = strconv.AppendBool(j.b, v) }

// strs appends a string slice at depth (nil is null).
func (j *jsonOut) strs(depth int, list []string) {
	_ = jsonArray(j, depth, list, func(_ int, s *string) error { j.str(*s); return nil })
}

// jsonArray appends list at depth as the indented encoder does: null when
// nil, [] when empty, else one element per line at depth+1, each written
// by elem.
func jsonArray[T any](j *jsonOut, depth int, list []T, elem func(depth int, v *T) error) error {
	switch {
	case list == nil:
		j.b = append(j.b, "null"...)
		return nil
	case len(list) == 0:
		j.b = append(j.b, "[]"...)
		return nil
	}
	j.b = append(j.b, '[')
	for i := range list {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.nl(depth + 1)
		if err := elem(depth+1, &list[i]); err != nil {
			return err
		}
	}
	j.nl(depth)
	j.b = append(j.b, ']')
	return nil
}

func (j *jsonOut) host(d int, h *plan.Host) error {
	j.b = append(j.b, '{')
	j.key(d+1, "id")
	j.str(h.ID)
	if h.Hostname != "" {
		j.field(d+1, "hostname")
		j.str(h.Hostname)
	}
	j.field(d+1, "stream")
	j.str(h.Stream)
	if h.Ring != "" {
		j.field(d+1, "ring")
		j.str(h.Ring)
	}
	if len(h.Candidates) > 0 {
		j.field(d+1, "candidates")
		j.strs(d+1, h.Candidates)
	}
	j.field(d+1, "status")
	j.str(string(h.Status))
	j.field(d+1, "stale")
	j.boolean(h.Stale)
	j.field(d+1, "reportedAt")
	if err := j.time(h.ReportedAt); err != nil {
		return err
	}
	if h.Baseline != "" {
		j.field(d+1, "baseline")
		j.str(h.Baseline)
	}
	if h.BaselineDigest != "" {
		j.field(d+1, "baselineDigest")
		j.str(h.BaselineDigest)
	}
	j.field(d+1, "packageSet")
	j.str(h.PackageSet)
	j.field(d+1, "rebootRequired")
	j.boolean(h.RebootRequired)
	j.field(d+1, "results")
	if err := jsonArray(j, d+1, h.Results, j.result); err != nil {
		return err
	}
	j.field(d+1, "actions")
	_ = jsonArray(j, d+1, h.Actions, func(d int, a *plan.Action) error { j.action(d, a); return nil })
	j.field(d+1, "risk")
	j.b = strconv.AppendInt(j.b, int64(h.Risk), 10)
	if !h.NextDeadline.IsZero() {
		j.field(d+1, "nextDeadline")
		if err := j.time(h.NextDeadline); err != nil {
			return err
		}
	}
	j.nl(d)
	j.b = append(j.b, '}')
	return nil
}

func (j *jsonOut) result(d int, r *plan.Result) error {
	j.b = append(j.b, '{')
	j.key(d+1, "rule")
	j.rule(d+1, &r.Rule)
	j.field(d+1, "state")
	j.str(string(r.State))
	if len(r.Installed) > 0 {
		j.field(d+1, "installed")
		_ = jsonArray(j, d+1, r.Installed, func(d int, o *plan.Observed) error {
			j.b = append(j.b, '{')
			j.key(d+1, "package")
			j.str(o.Package)
			j.field(d+1, "arch")
			j.str(o.Arch)
			j.field(d+1, "version")
			j.str(o.Version)
			j.field(d+1, "compared")
			j.str(o.Compared)
			j.field(d+1, "comparison")
			j.str(o.Comparison)
			j.field(d+1, "state")
			j.str(string(o.State))
			j.nl(d)
			j.b = append(j.b, '}')
			return nil
		})
	}
	j.field(d+1, "evidence")
	j.str(r.Evidence)
	if !r.Deadline.IsZero() {
		j.field(d+1, "deadline")
		if err := j.time(r.Deadline); err != nil {
			return err
		}
	}
	if r.DeadlineBy != "" {
		j.field(d+1, "deadlineBy")
		j.str(r.DeadlineBy)
	}
	if r.Overdue {
		j.field(d+1, "overdue")
		j.boolean(true)
	}
	if r.Risk != 0 {
		j.field(d+1, "risk")
		j.b = strconv.AppendInt(j.b, int64(r.Risk), 10)
	}
	if r.Exception != "" {
		j.field(d+1, "exception")
		j.str(r.Exception)
	}
	j.nl(d)
	j.b = append(j.b, '}')
	return nil
}

func (j *jsonOut) rule(d int, r *plan.Rule) {
	j.b = append(j.b, '{')
	j.key(d+1, "kind")
	j.str(r.Kind)
	j.field(d+1, "name")
	j.str(r.Name)
	for _, f := range [...]struct{ k, v string }{{"min", r.Min}, {"pin", r.Pin}, {"hold", r.Hold}} {
		if f.v != "" {
			j.field(d+1, f.k)
			j.str(f.v)
		}
	}
	if len(r.Block) > 0 {
		j.field(d+1, "block")
		j.strs(d+1, r.Block)
	}
	if r.Required {
		j.field(d+1, "required")
		j.boolean(true)
	}
	j.field(d+1, "severity")
	j.str(r.Severity)
	if r.KEV {
		j.field(d+1, "kev")
		j.boolean(true)
	}
	if len(r.Advisories) > 0 {
		j.field(d+1, "advisories")
		j.strs(d+1, r.Advisories)
	}
	if r.Published != "" {
		j.field(d+1, "published")
		j.str(r.Published)
	}
	if r.Reboot {
		j.field(d+1, "reboot")
		j.boolean(true)
	}
	if r.Refreshed != "" {
		j.field(d+1, "refreshed")
		j.str(r.Refreshed)
	}
	j.nl(d)
	j.b = append(j.b, '}')
}

func (j *jsonOut) action(d int, a *plan.Action) {
	j.b = append(j.b, '{')
	j.key(d+1, "kind")
	j.str(string(a.Kind))
	for _, f := range [...]struct{ k, v string }{{"package", a.Package}, {"version", a.Version}, {"min", a.Min}, {"minSource", a.MinSource}} {
		if f.v != "" {
			j.field(d+1, f.k)
			j.str(f.v)
		}
	}
	if len(a.Avoid) > 0 {
		j.field(d+1, "avoid")
		j.strs(d+1, a.Avoid)
	}
	j.field(d+1, "rules")
	j.strs(d+1, a.Rules)
	j.field(d+1, "reason")
	j.str(a.Reason)
	j.nl(d)
	j.b = append(j.b, '}')
}
