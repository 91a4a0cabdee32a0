package gitrepo

// GitDir returns the repository's git directory (.git, or the bare
// repository itself); ok is false for a repository that is not on disk.
func (r *Repo) GitDir() (dir string, ok bool) {
	s, ok := r.fsStorage()
	if !ok {
		return "", false
	}
	return s.Filesystem().Root(), true
}
