package gate

import (
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// value builds the input's Rego value directly, without decoding its JSON
// again: the same value ast.ValueFromReader gives for the canonical JSON
// (TestValueMatchesJSON), at a fraction of the cost. in must be normalized.
func (in Input) value() ast.Value {
	return ast.NewObject(
		field("base", ast.ObjectTerm(field("commit", ast.StringTerm(in.Base.Commit)))),
		field("head", ast.ObjectTerm(field("commit", ast.StringTerm(in.Head.Commit)))),
		field("now", timeTerm(in.Now)),
		field("config", in.Config.term()),
		field("rings", array(in.Rings, Ring.term)),
		field("change", ast.ObjectTerm(
			field("rings_moved", array(in.Change.RingsMoved, RingMove.term)),
			field("baselines", array(in.Change.Baselines, BaselineChange.term)),
			field("exceptions", array(in.Change.Exceptions, ExceptionChange.term)),
			field("files", stringArray(in.Change.Files)),
			field("classes", array(in.Change.Classes, ChangeClass.term)),
			field("effect_digest", ast.StringTerm(in.Change.EffectDigest)),
		)),
		field("pr", ast.ObjectTerm(
			field("number", ast.IntNumberTerm(in.PR.Number)),
			field("author", ast.StringTerm(in.PR.Author)),
			field("last_pusher", ast.StringTerm(in.PR.LastPusher)),
			field("labels", stringArray(in.PR.Labels)),
			field("head_sha", ast.StringTerm(in.PR.HeadSHA)),
			field("base_ref", ast.StringTerm(in.PR.BaseRef)),
		)),
		field("reviews", array(in.Reviews, Review.term)),
		field("evidence", array(in.Evidence, Evidence.term)),
	)
}

func field(k string, v *ast.Term) [2]*ast.Term { return [2]*ast.Term{ast.StringTerm(k), v} }

func array[T any](xs []T, term func(T) *ast.Term) *ast.Term {
	ts := make([]*ast.Term, len(xs))
	for i, x := range xs {
		ts[i] = term(x)
	}
	return ast.ArrayTerm(ts...)
}

func stringArray(ss []string) *ast.Term {
	return array(ss, func(s string) *ast.Term { return ast.StringTerm(s) })
}

func timeTerm(t time.Time) *ast.Term { return ast.StringTerm(t.Format(time.RFC3339Nano)) }

func float(f float64) *ast.Term { return ast.FloatNumberTerm(f) }

func (c Config) term() *ast.Term {
	groups := make([][2]*ast.Term, 0, len(c.Approvers))
	for g, members := range c.Approvers {
		if members == nil {
			groups = append(groups, field(g, ast.NullTerm()))
			continue
		}
		groups = append(groups, field(g, stringArray(members)))
	}
	return ast.ObjectTerm(
		field("approvers", ast.ObjectTerm(groups...)),
		field("policy_owners", ast.StringTerm(c.PolicyOwners)),
		field("security", ast.StringTerm(c.Security)),
		field("exceptions", ast.ObjectTerm(field("max_days", ast.IntNumberTerm(c.Exceptions.MaxDays)))),
	)
}

func (r Ring) term() *ast.Term {
	return ast.ObjectTerm(
		field("name", ast.StringTerm(r.Name)),
		field("baseline", ast.StringTerm(r.Baseline)),
		field("soak_hours", float(r.SoakHours)),
		field("success_threshold", float(r.SuccessThreshold)),
		field("approvals", ast.ObjectTerm(
			field("required", ast.IntNumberTerm(r.Approvals.Required)),
			field("groups", stringArray(r.Approvals.Groups)),
		)),
		field("freeze", array(r.Freeze, func(f Freeze) *ast.Term {
			return ast.ObjectTerm(
				field("from", ast.StringTerm(f.From)),
				field("to", ast.StringTerm(f.To)),
				field("reason", ast.StringTerm(f.Reason)),
			)
		})),
		field("min_hosts", ast.IntNumberTerm(r.MinHosts)),
	)
}

func (c ChangeClass) term() *ast.Term {
	return ast.ObjectTerm(
		field("class", ast.StringTerm(c.Class)),
		field("path", ast.StringTerm(c.Path)),
		field("subject", ast.StringTerm(c.Subject)),
		field("field", ast.StringTerm(c.Field)),
		field("direction", ast.StringTerm(c.Direction)),
		field("owner", ast.StringTerm(c.Owner)),
		field("detail", ast.StringTerm(c.Detail)),
	)
}

func (m RingMove) term() *ast.Term {
	return ast.ObjectTerm(
		field("ring", ast.StringTerm(m.Ring)),
		field("from", ast.StringTerm(m.From)),
		field("to", ast.StringTerm(m.To)),
		field("to_digest", ast.StringTerm(m.ToDigest)),
		field("floors", array(m.Floors, func(f Floor) *ast.Term {
			return ast.ObjectTerm(
				field("stream", ast.StringTerm(f.Stream)),
				field("kind", ast.StringTerm(f.Kind)),
				field("name", ast.StringTerm(f.Name)),
				field("old_min", ast.StringTerm(f.OldMin)),
				field("new_min", ast.StringTerm(f.NewMin)),
				field("cmp", ast.IntNumberTerm(f.Cmp)),
				field("allow_downgrade_reason", ast.StringTerm(f.AllowDowngradeReason)),
			)
		})),
	)
}

func (b BaselineChange) term() *ast.Term {
	return ast.ObjectTerm(
		field("id", ast.StringTerm(b.ID)),
		field("status", ast.StringTerm(b.Status)),
		field("base_digest", ast.StringTerm(b.BaseDigest)),
		field("head_digest", ast.StringTerm(b.HeadDigest)),
		field("rules", array(b.Rules, func(r RuleSummary) *ast.Term {
			return ast.ObjectTerm(
				field("stream", ast.StringTerm(r.Stream)),
				field("kind", ast.StringTerm(r.Kind)),
				field("name", ast.StringTerm(r.Name)),
				field("min", ast.StringTerm(r.Min)),
				field("pin", ast.StringTerm(r.Pin)),
				field("hold", ast.BooleanTerm(r.Hold)),
				field("hold_reason", ast.StringTerm(r.HoldReason)),
				field("block", stringArray(r.Block)),
			)
		})),
	)
}

func (e ExceptionChange) term() *ast.Term {
	return ast.ObjectTerm(
		field("id", ast.StringTerm(e.ID)),
		field("status", ast.StringTerm(e.Status)),
		field("owner", ast.StringTerm(e.Owner)),
		field("reason", ast.StringTerm(e.Reason)),
		field("compensating_control", ast.StringTerm(e.CompensatingControl)),
		field("granted", ast.StringTerm(e.Granted)),
		field("expires", ast.StringTerm(e.Expires)),
		field("kev", ast.BooleanTerm(e.KEV)),
	)
}

func (r Review) term() *ast.Term {
	return ast.ObjectTerm(
		field("user", ast.ObjectTerm(field("login", ast.StringTerm(r.User.Login)))),
		field("state", ast.StringTerm(r.State)),
		field("commit_id", ast.StringTerm(r.CommitID)),
		field("submitted_at", timeTerm(r.SubmittedAt)),
	)
}

func (e Evidence) term() *ast.Term {
	return ast.ObjectTerm(
		field("ring", ast.StringTerm(e.Ring)),
		field("baseline", ast.StringTerm(e.Baseline)),
		field("baseline_digest", ast.StringTerm(e.BaselineDigest)),
		field("commit", ast.StringTerm(e.Commit)),
		field("success_rate", float(e.SuccessRate)),
		field("soak_hours", float(e.SoakHours)),
		field("verified_at", timeTerm(e.VerifiedAt)),
		field("hosts_total", ast.IntNumberTerm(e.HostsTotal)),
		field("hosts_changed", ast.IntNumberTerm(e.HostsChanged)),
		field("tested_set", array(e.TestedSet, TestedVersion.term)),
	)
}

func (t TestedVersion) term() *ast.Term {
	return ast.ObjectTerm(
		field("stream", ast.StringTerm(t.Stream)),
		field("package", ast.StringTerm(t.Package)),
		field("version", ast.StringTerm(t.Version)),
		field("hosts", ast.IntNumberTerm(t.Hosts)),
	)
}
