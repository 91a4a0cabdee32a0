package rollout

import (
	"context"
	"io/fs"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
)

// Mover tells which rings a main-branch commit moved, the way the
// controller decides to start rollouts (a ring whose pinned baseline id or
// digest differs from the first parent's); audit.Complete uses it to know
// which commits must have records. Models are cached per commit.
type Mover struct {
	Repo *gitrepo.Repo
	// Now is the time the head is validated at (ring order); zero: now.
	// Other commits are validated at their commit time.
	Now    time.Time
	models map[gitrepo.Hash]*baseline.Repository
}

// Moved implements audit.CompleteOptions.Moved. A commit or parent that
// does not validate moves nothing (the controller starts nothing then).
func (m *Mover) Moved(ctx context.Context, n *gitrepo.Node) ([]audit.RingMove, error) {
	if len(n.Parents) == 0 {
		return nil, nil
	}
	paths, err := m.Repo.ChangedPaths(ctx, n.Parents[0], n.Hash)
	if err != nil {
		return nil, err
	}
	relevant := false
	for _, p := range paths {
		if strings.HasPrefix(p, "rings/") || strings.HasPrefix(p, "baselines/") || p == "patchbay.cue" {
			relevant = true
			break
		}
	}
	if !relevant {
		return nil, nil
	}
	// Validate as the controller did, when the commit was new (an
	// exception that expired since must not hide the move).
	model := m.load(ctx, n.Hash, n.Time)
	parent := m.load(ctx, n.Parents[0], n.Time)
	if model == nil || parent == nil {
		return nil, nil
	}
	var out []audit.RingMove
	for _, ring := range model.Rings {
		b := model.Baselines[ring.Baseline]
		if b == nil {
			continue
		}
		pr := parent.Ring(ring.Name)
		if pr == nil || pr.Baseline != b.ID || parent.Baselines[pr.Baseline] == nil || parent.Baselines[pr.Baseline].Digest != b.Digest {
			out = append(out, audit.RingMove{Ring: ring.Name, BaselineID: b.ID, BaselineDigest: b.Digest})
		}
	}
	return out, nil
}

// Previous returns the ring before ring in the promotion order of the
// model at commit head ("" for the first ring or an unknown one).
func (m *Mover) Previous(ctx context.Context, head gitrepo.Hash) func(string) string {
	model := m.load(ctx, head, m.Now)
	return func(ring string) string {
		if model == nil {
			return ""
		}
		for i, r := range model.Rings {
			if r.Name == ring && i > 0 {
				return model.Rings[i-1].Name
			}
		}
		return ""
	}
}

func (m *Mover) load(ctx context.Context, h gitrepo.Hash, now time.Time) *baseline.Repository {
	if model, ok := m.models[h]; ok && model != nil {
		return model
	}
	if m.models == nil {
		m.models = map[gitrepo.Hash]*baseline.Repository{}
	}
	if now.IsZero() {
		now = time.Now()
	}
	var model *baseline.Repository
	if tree, err := m.Repo.TreeFS(h); err == nil {
		model, _ = baseline.Load(ctx, fs.FS(tree), baseline.Options{Now: now})
	}
	m.models[h] = model
	return model
}
