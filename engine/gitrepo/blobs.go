package gitrepo

import "context"

// Blobs reads many blobs, in the order of hashes. (Reading them on several
// independent go-git stores in parallel was measured and lost: each store
// re-inflates the delta bases the others already have.)
func (r *Repo) Blobs(ctx context.Context, hashes []Hash) ([][]byte, error) {
	out := make([][]byte, len(hashes))
	for i, h := range hashes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := r.Blob(h)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
