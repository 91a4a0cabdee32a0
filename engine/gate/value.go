package gate

import (
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// value builds the input's Rego value straight from the typed input, without
// encoding and decoding its JSON or a generic map in between: the same value
// ast.ValueFromReader gives for the canonical JSON (TestValueMatchesJSON;
// TestValueCoversEveryField sets every field of every input struct, so a
// field added to a struct but not here fails it). in must be normalized.
//
// Every object is one call of converter.object with its keys, made once per
// process (the shape lists below, in json tag order), and its values in the
// same order; terms come from slabs. Typed code rather than reflection over
// the json tags: reflection made the same value with as few allocations but
// 10–15 % more CPU.
func (in Input) value() ast.Value {
	c := &converter{}
	return c.input(in, [nParts]*ast.Term{})
}

// input is in's value with the values of its parts in parts (see
// partConfig; taken from templates), a nil one made here.
func (c *converter) input(in Input, parts [nParts]*ast.Term) ast.Value {
	for i := range nParts {
		if parts[i] == nil {
			parts[i] = c.part(in, i)
		}
	}
	return c.object(kInput,
		c.object(kCommit, c.str(in.Base.Commit)),
		c.object(kCommit, c.str(in.Head.Commit)),
		c.time(in.Now),
		parts[partConfig],
		parts[partRings],
		parts[partChange],
		parts[partPR],
		parts[partReviews],
		parts[partEvidence],
	).Value
}

// part is the value of in's part i (see partConfig).
func (c *converter) part(in Input, i int) *ast.Term {
	switch i {
	case partConfig:
		return c.config(in.Config)
	case partRings:
		return array(c, in.Rings, (*converter).ring)
	case partChange:
		return c.object(kChange,
			array(c, in.Change.RingsMoved, (*converter).ringMove),
			array(c, in.Change.Baselines, (*converter).baseline),
			array(c, in.Change.Exceptions, (*converter).exception),
			c.strs(in.Change.Files),
			array(c, in.Change.Classes, (*converter).class),
			c.str(in.Change.EffectDigest),
		)
	case partPR:
		return c.object(kPR,
			c.int(in.PR.Number),
			c.str(in.PR.Author),
			c.str(in.PR.LastPusher),
			c.strs(in.PR.Labels),
			c.str(in.PR.HeadSHA),
			c.str(in.PR.BaseRef),
		)
	case partReviews:
		return array(c, in.Reviews, (*converter).review)
	case partEvidence:
		return array(c, in.Evidence, (*converter).evidence)
	}
	panic("gate: no input part " + strconv.Itoa(i))
}

// The objects' keys: the json tags of each input struct, in field order.
var (
	kInput      = keys("base", "head", "now", "config", "rings", "change", "pr", "reviews", "evidence")
	kCommit     = keys("commit")
	kConfig     = keys("approvers", "policy_owners", "security", "exceptions")
	kLimits     = keys("max_days")
	kRing       = keys("name", "baseline", "soak_hours", "success_threshold", "approvals", "freeze", "min_hosts")
	kApprovals  = keys("required", "groups")
	kFreeze     = keys("from", "to", "reason")
	kChange     = keys("rings_moved", "baselines", "exceptions", "files", "classes", "effect_digest")
	kClass      = keys("class", "path", "subject", "field", "direction", "owner", "detail")
	kRingMove   = keys("ring", "from", "to", "to_digest", "floors")
	kFloor      = keys("stream", "kind", "name", "old_min", "new_min", "cmp", "allow_downgrade_reason")
	kBaseline   = keys("id", "status", "base_digest", "head_digest", "rules")
	kRule       = keys("stream", "kind", "name", "min", "pin", "hold", "hold_reason", "block")
	kException  = keys("id", "status", "owner", "reason", "compensating_control", "granted", "expires", "kev")
	kPR         = keys("number", "author", "last_pusher", "labels", "head_sha", "base_ref")
	kReview     = keys("user", "state", "commit_id", "submitted_at")
	kUser       = keys("login")
	kEvidence   = keys("ring", "baseline", "baseline_digest", "commit", "success_rate", "soak_hours", "verified_at", "hosts_total", "hosts_changed", "tested_set")
	kTestedVers = keys("stream", "package", "version", "hosts")
)

func keys(names ...string) []*ast.Term {
	ts := make([]*ast.Term, len(names))
	for i, n := range names {
		ts[i] = ast.InternedTerm(n)
	}
	return ts
}

// converter makes the terms of one input value. Its terms come from slabs
// (one allocation per 128 terms instead of one per term) and an object's
// key-value pairs from one scratch slice; the value is built once per
// decision and lives as long as its evaluation.
type converter struct {
	slab    []ast.Term
	scratch [][2]*ast.Term
	// first is the size of the first slab (0: 128, as the later ones);
	// used counts the terms taken.
	first, used int
}

func (c *converter) term(v ast.Value) *ast.Term {
	if len(c.slab) == 0 {
		n := 128
		if c.used == 0 && c.first > 0 {
			n = c.first
		}
		c.slab = make([]ast.Term, n)
	}
	t := &c.slab[0]
	c.slab = c.slab[1:]
	c.used++
	t.Value = v
	return t
}

// object pairs keys with vals (same length, same order).
func (c *converter) object(keys []*ast.Term, vals ...*ast.Term) *ast.Term {
	if len(keys) != len(vals) {
		panic("gate: input object with " + strconv.Itoa(len(vals)) + " values for " + strconv.Itoa(len(keys)) + " keys")
	}
	kvs := c.scratch[:0]
	for i, k := range keys {
		kvs = append(kvs, [2]*ast.Term{k, vals[i]})
	}
	o := ast.NewObject(kvs...) // copies the pairs
	clear(kvs)
	c.scratch = kvs
	return c.term(o)
}

func stringValue(s string) ast.Value { return ast.String(s) }

func (c *converter) str(s string) *ast.Term {
	return c.term(ast.InternedValueOr(s, stringValue))
}

func (c *converter) int(i int) *ast.Term { return ast.InternedTerm(i) }

func (c *converter) bool(b bool) *ast.Term { return ast.InternedTerm(b) }

// float is a number as ast.FloatNumberTerm writes it.
func (c *converter) float(f float64) *ast.Term {
	return c.term(ast.Number(strconv.FormatFloat(f, 'g', -1, 64)))
}

// time is a time as encoding/json writes it.
func (c *converter) time(t time.Time) *ast.Term {
	return c.term(ast.String(t.Format(time.RFC3339Nano)))
}

// strs is a list of strings; nil is null, as in the JSON.
func (c *converter) strs(ss []string) *ast.Term {
	return array(c, ss, (*converter).str)
}

// array is a list; nil is null, as in the JSON.
func array[T any](c *converter, xs []T, term func(*converter, T) *ast.Term) *ast.Term {
	if xs == nil {
		return ast.NullTerm()
	}
	ts := make([]*ast.Term, len(xs))
	for i, x := range xs {
		ts[i] = term(c, x)
	}
	return c.term(ast.NewArray(ts...))
}

func (c *converter) config(cfg Config) *ast.Term {
	var groups *ast.Term
	if cfg.Approvers == nil {
		groups = ast.NullTerm()
	} else {
		kvs := make([][2]*ast.Term, 0, len(cfg.Approvers))
		for g, members := range cfg.Approvers {
			kvs = append(kvs, [2]*ast.Term{c.str(g), c.strs(members)})
		}
		groups = c.term(ast.NewObject(kvs...))
	}
	return c.object(kConfig,
		groups,
		c.str(cfg.PolicyOwners),
		c.str(cfg.Security),
		c.object(kLimits, c.int(cfg.Exceptions.MaxDays)),
	)
}

func (c *converter) ring(r Ring) *ast.Term {
	return c.object(kRing,
		c.str(r.Name),
		c.str(r.Baseline),
		c.float(r.SoakHours),
		c.float(r.SuccessThreshold),
		c.object(kApprovals, c.int(r.Approvals.Required), c.strs(r.Approvals.Groups)),
		array(c, r.Freeze, func(c *converter, f Freeze) *ast.Term {
			return c.object(kFreeze, c.str(f.From), c.str(f.To), c.str(f.Reason))
		}),
		c.int(r.MinHosts),
	)
}

func (c *converter) class(cl ChangeClass) *ast.Term {
	return c.object(kClass,
		c.str(cl.Class), c.str(cl.Path), c.str(cl.Subject), c.str(cl.Field),
		c.str(cl.Direction), c.str(cl.Owner), c.str(cl.Detail),
	)
}

func (c *converter) ringMove(m RingMove) *ast.Term {
	return c.object(kRingMove,
		c.str(m.Ring), c.str(m.From), c.str(m.To), c.str(m.ToDigest),
		array(c, m.Floors, func(c *converter, f Floor) *ast.Term {
			return c.object(kFloor,
				c.str(f.Stream), c.str(f.Kind), c.str(f.Name), c.str(f.OldMin), c.str(f.NewMin),
				c.int(f.Cmp), c.str(f.AllowDowngradeReason),
			)
		}),
	)
}

func (c *converter) baseline(b BaselineChange) *ast.Term {
	return c.object(kBaseline,
		c.str(b.ID), c.str(b.Status), c.str(b.BaseDigest), c.str(b.HeadDigest),
		array(c, b.Rules, func(c *converter, r RuleSummary) *ast.Term {
			return c.object(kRule,
				c.str(r.Stream), c.str(r.Kind), c.str(r.Name), c.str(r.Min), c.str(r.Pin),
				c.bool(r.Hold), c.str(r.HoldReason), c.strs(r.Block),
			)
		}),
	)
}

func (c *converter) exception(e ExceptionChange) *ast.Term {
	return c.object(kException,
		c.str(e.ID), c.str(e.Status), c.str(e.Owner), c.str(e.Reason),
		c.str(e.CompensatingControl), c.str(e.Granted), c.str(e.Expires), c.bool(e.KEV),
	)
}

func (c *converter) review(r Review) *ast.Term {
	return c.object(kReview,
		c.object(kUser, c.str(r.User.Login)),
		c.str(r.State), c.str(r.CommitID), c.time(r.SubmittedAt),
	)
}

func (c *converter) evidence(e Evidence) *ast.Term {
	return c.object(kEvidence,
		c.str(e.Ring), c.str(e.Baseline), c.str(e.BaselineDigest), c.str(e.Commit),
		c.float(e.SuccessRate), c.float(e.SoakHours), c.time(e.VerifiedAt),
		c.int(e.HostsTotal), c.int(e.HostsChanged),
		array(c, e.TestedSet, func(c *converter, t TestedVersion) *ast.Term {
			return c.object(kTestedVers, c.str(t.Stream), c.str(t.Package), c.str(t.Version), c.int(t.Hosts))
		}),
	)
}
