package gate

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The parts of an input that a decision may take from the last decision's
// value when their canonical JSON is the same bytes (see partTemplate), in
// the order of the canonical JSON.
const (
	partConfig   = iota // the config, from the base commit
	partRings           // the rings, from the base commit
	partChange          // the change, from the head commit
	partPR              // the pull request
	partReviews         // its reviews
	partEvidence        // the rings' verification evidence
	nParts
)

// canonParts locate the parts in the canonical JSON: span[i] holds part
// i's bytes, lossy[i] whether one of its strings was not valid UTF-8 (and
// so was written as U+FFFD: two different strings, the same bytes).
type canonParts struct {
	span  [nParts][2]int
	lossy [nParts]bool
}

// canonicalJSON appends the canonical JSON of in (which must be normalized)
// to buf: the bytes json.Marshal gives for it, written by typed code
// instead of reflection (TestCanonicalJSONMatchesMarshal and
// FuzzCanonicalJSON compare the two). Whatever this code does not write
// itself — a string that needs escaping or is not valid UTF-8, a float in
// exponent form, NaN or an infinity, a time outside the years 0–9999 — it
// hands to json.Marshal, so the bytes and the errors stay json.Marshal's.
//
// parts says where each part of the input (see partConfig) is in the
// returned bytes, and whether a string in it was not valid UTF-8.
func (in Input) canonicalJSON(buf []byte) (out []byte, parts canonParts, err error) {
	e := jsonEncoder{buf: buf}
	begin := func(i int) { parts.span[i][0], e.lossy = len(e.buf), false }
	end := func(i int) { parts.span[i][1], parts.lossy[i] = len(e.buf), e.lossy }
	e.raw(`{"base":{"commit":`)
	e.str(in.Base.Commit)
	e.raw(`},"head":{"commit":`)
	e.str(in.Head.Commit)
	e.raw(`},"now":`)
	e.time(in.Now)
	e.raw(`,"config":`)
	begin(partConfig)
	e.config(in.Config)
	end(partConfig)
	e.raw(`,"rings":`)
	begin(partRings)
	jsonArray(&e, in.Rings, (*jsonEncoder).ring)
	end(partRings)
	e.raw(`,"change":`)
	begin(partChange)
	e.raw(`{"rings_moved":`)
	jsonArray(&e, in.Change.RingsMoved, (*jsonEncoder).ringMove)
	e.raw(`,"baselines":`)
	jsonArray(&e, in.Change.Baselines, (*jsonEncoder).baseline)
	e.raw(`,"exceptions":`)
	jsonArray(&e, in.Change.Exceptions, (*jsonEncoder).exception)
	e.raw(`,"files":`)
	e.strs(in.Change.Files)
	e.raw(`,"classes":`)
	jsonArray(&e, in.Change.Classes, (*jsonEncoder).class)
	e.raw(`,"effect_digest":`)
	e.str(in.Change.EffectDigest)
	e.raw(`}`)
	end(partChange)
	e.raw(`,"pr":`)
	begin(partPR)
	e.raw(`{"number":`)
	e.int(in.PR.Number)
	e.raw(`,"author":`)
	e.str(in.PR.Author)
	e.raw(`,"last_pusher":`)
	e.str(in.PR.LastPusher)
	e.raw(`,"labels":`)
	e.strs(in.PR.Labels)
	e.raw(`,"head_sha":`)
	e.str(in.PR.HeadSHA)
	e.raw(`,"base_ref":`)
	e.str(in.PR.BaseRef)
	e.raw(`}`)
	end(partPR)
	e.raw(`,"reviews":`)
	begin(partReviews)
	jsonArray(&e, in.Reviews, (*jsonEncoder).review)
	end(partReviews)
	e.raw(`,"evidence":`)
	begin(partEvidence)
	jsonArray(&e, in.Evidence, (*jsonEncoder).evidence)
	end(partEvidence)
	e.raw(`}`)
	return e.buf, parts, e.err
}

// jsonEncoder appends JSON as json.Marshal writes it. The first error
// sticks; later writes are still made but the result is discarded.
type jsonEncoder struct {
	buf   []byte
	lossy bool
	err   error
}

func (e *jsonEncoder) raw(s string) { e.buf = append(e.buf, s...) }

// marshal appends json.Marshal's encoding of v.
func (e *jsonEncoder) marshal(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		if e.err == nil {
			e.err = err
		}
		return
	}
	e.buf = append(e.buf, b...)
}

// str writes s as a JSON string. Printable ASCII other than " \ < > & and
// valid UTF-8 other than U+2028 and U+2029 are written as they are; a
// string with anything else is json.Marshal's (it escapes them, and writes
// invalid UTF-8 as U+FFFD).
func (e *jsonEncoder) str(s string) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				e.marshal(s)
				return
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			e.lossy = true
			e.marshal(s)
			return
		}
		if r == '\u2028' || r == '\u2029' {
			e.marshal(s)
			return
		}
		i += size
	}
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '"')
}

// strs is a list of strings; nil is null.
func (e *jsonEncoder) strs(ss []string) { jsonArray(e, ss, (*jsonEncoder).str) }

func (e *jsonEncoder) int(i int) { e.buf = strconv.AppendInt(e.buf, int64(i), 10) }

func (e *jsonEncoder) bool(b bool) { e.buf = strconv.AppendBool(e.buf, b) }

// float writes f in json.Marshal's fixed-point form (zero, or 1e-6 ≤ |f| <
// 1e21); json.Marshal writes the exponent form, NaN and the infinities
// (errors).
func (e *jsonEncoder) float(f float64) {
	if a := math.Abs(f); f == 0 || (a >= 1e-6 && a < 1e21) {
		e.buf = strconv.AppendFloat(e.buf, f, 'f', -1, 64)
		return
	}
	e.marshal(f)
}

// time writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros cut) for UTC times in the years 0–9999;
// json.Marshal writes the others (and fails on years it cannot write).
func (e *jsonEncoder) time(t time.Time) {
	if y := t.Year(); y < 0 || y > 9999 || t.Location() != time.UTC {
		e.marshal(t)
		return
	}
	e.buf = append(e.buf, '"')
	e.buf = t.AppendFormat(e.buf, time.RFC3339Nano)
	e.buf = append(e.buf, '"')
}

// jsonArray writes a list; nil is null, as json.Marshal writes it.
func jsonArray[T any](e *jsonEncoder, xs []T, write func(*jsonEncoder, T)) {
	if xs == nil {
		e.raw("null")
		return
	}
	e.buf = append(e.buf, '[')
	for i, x := range xs {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		write(e, x)
	}
	e.buf = append(e.buf, ']')
}

func (e *jsonEncoder) config(c Config) {
	if c.Approvers == nil {
		e.raw(`{"approvers":null`)
	} else {
		e.raw(`{"approvers":{`)
		for i, g := range slices.Sorted(maps.Keys(c.Approvers)) {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.str(g)
			e.buf = append(e.buf, ':')
			e.strs(c.Approvers[g])
		}
		e.buf = append(e.buf, '}')
	}
	e.raw(`,"policy_owners":`)
	e.str(c.PolicyOwners)
	e.raw(`,"security":`)
	e.str(c.Security)
	e.raw(`,"exceptions":{"max_days":`)
	e.int(c.Exceptions.MaxDays)
	e.raw(`}}`)
}

func (e *jsonEncoder) ring(r Ring) {
	e.raw(`{"name":`)
	e.str(r.Name)
	e.raw(`,"baseline":`)
	e.str(r.Baseline)
	e.raw(`,"soak_hours":`)
	e.float(r.SoakHours)
	e.raw(`,"success_threshold":`)
	e.float(r.SuccessThreshold)
	e.raw(`,"approvals":{"required":`)
	e.int(r.Approvals.Required)
	e.raw(`,"groups":`)
	e.strs(r.Approvals.Groups)
	e.raw(`},"freeze":`)
	jsonArray(e, r.Freeze, func(e *jsonEncoder, f Freeze) {
		e.raw(`{"from":`)
		e.str(f.From)
		e.raw(`,"to":`)
		e.str(f.To)
		e.raw(`,"reason":`)
		e.str(f.Reason)
		e.raw(`}`)
	})
	e.raw(`,"min_hosts":`)
	e.int(r.MinHosts)
	e.raw(`}`)
}

func (e *jsonEncoder) ringMove(m RingMove) {
	e.raw(`{"ring":`)
	e.str(m.Ring)
	e.raw(`,"from":`)
	e.str(m.From)
	e.raw(`,"to":`)
	e.str(m.To)
	e.raw(`,"to_digest":`)
	e.str(m.ToDigest)
	e.raw(`,"floors":`)
	jsonArray(e, m.Floors, func(e *jsonEncoder, f Floor) {
		e.raw(`{"stream":`)
		e.str(f.Stream)
		e.raw(`,"kind":`)
		e.str(f.Kind)
		e.raw(`,"name":`)
		e.str(f.Name)
		e.raw(`,"old_min":`)
		e.str(f.OldMin)
		e.raw(`,"new_min":`)
		e.str(f.NewMin)
		e.raw(`,"cmp":`)
		e.int(f.Cmp)
		e.raw(`,"allow_downgrade_reason":`)
		e.str(f.AllowDowngradeReason)
		e.raw(`}`)
	})
	e.raw(`}`)
}

func (e *jsonEncoder) baseline(b BaselineChange) {
	e.raw(`{"id":`)
	e.str(b.ID)
	e.raw(`,"status":`)
	e.str(b.Status)
	e.raw(`,"base_digest":`)
	e.str(b.BaseDigest)
	e.raw(`,"head_digest":`)
	e.str(b.HeadDigest)
	e.raw(`,"rules":`)
	jsonArray(e, b.Rules, func(e *jsonEncoder, r RuleSummary) {
		e.raw(`{"stream":`)
		e.str(r.Stream)
		e.raw(`,"kind":`)
		e.str(r.Kind)
		e.raw(`,"name":`)
		e.str(r.Name)
		e.raw(`,"min":`)
		e.str(r.Min)
		e.raw(`,"pin":`)
		e.str(r.Pin)
		e.raw(`,"hold":`)
		e.bool(r.Hold)
		e.raw(`,"hold_reason":`)
		e.str(r.HoldReason)
		e.raw(`,"block":`)
		e.strs(r.Block)
		e.raw(`}`)
	})
	e.raw(`}`)
}

func (e *jsonEncoder) exception(x ExceptionChange) {
	e.raw(`{"id":`)
	e.str(x.ID)
	e.raw(`,"status":`)
	e.str(x.Status)
	e.raw(`,"owner":`)
	e.str(x.Owner)
	e.raw(`,"reason":`)
	e.str(x.Reason)
	e.raw(`,"compensating_control":`)
	e.str(x.CompensatingControl)
	e.raw(`,"granted":`)
	e.str(x.Granted)
	e.raw(`,"expires":`)
	e.str(x.Expires)
	e.raw(`,"kev":`)
	e.bool(x.KEV)
	e.raw(`}`)
}

func (e *jsonEncoder) class(c ChangeClass) {
	e.raw(`{"class":`)
	e.str(c.Class)
	e.raw(`,"path":`)
	e.str(c.Path)
	e.raw(`,"subject":`)
	e.str(c.Subject)
	e.raw(`,"field":`)
	e.str(c.Field)
	e.raw(`,"direction":`)
	e.str(c.Direction)
	e.raw(`,"owner":`)
	e.str(c.Owner)
	e.raw(`,"detail":`)
	e.str(c.Detail)
	e.raw(`}`)
}

func (e *jsonEncoder) review(r Review) {
	e.raw(`{"user":{"login":`)
	e.str(r.User.Login)
	e.raw(`},"state":`)
	e.str(r.State)
	e.raw(`,"commit_id":`)
	e.str(r.CommitID)
	e.raw(`,"submitted_at":`)
	e.time(r.SubmittedAt)
	e.raw(`}`)
}

func (e *jsonEncoder) evidence(v Evidence) {
	e.raw(`{"ring":`)
	e.str(v.Ring)
	e.raw(`,"baseline":`)
	e.str(v.Baseline)
	e.raw(`,"baseline_digest":`)
	e.str(v.BaselineDigest)
	e.raw(`,"commit":`)
	e.str(v.Commit)
	e.raw(`,"success_rate":`)
	e.float(v.SuccessRate)
	e.raw(`,"soak_hours":`)
	e.float(v.SoakHours)
	e.raw(`,"verified_at":`)
	e.time(v.VerifiedAt)
	e.raw(`,"hosts_total":`)
	e.int(v.HostsTotal)
	e.raw(`,"hosts_changed":`)
	e.int(v.HostsChanged)
	e.raw(`,"tested_set":`)
	jsonArray(e, v.TestedSet, func(e *jsonEncoder, t TestedVersion) {
		e.raw(`{"stream":`)
		e.str(t.Stream)
		e.raw(`,"package":`)
		e.str(t.Package)
		e.raw(`,"version":`)
		e.str(t.Version)
		e.raw(`,"hosts":`)
		e.int(t.Hosts)
		e.raw(`}`)
	})
	e.raw(`}`)
}
