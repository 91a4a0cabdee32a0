// Package gitrepo owns patchbay's access to Git: opening a local repository
// or cloning and fetching a remote one into a cache directory, resolving
// revisions, exposing the tree at a commit as an io/fs.FS, the paths changed
// between two commits, merge bases, the first-parent history of a branch, and
// Git notes under a notes ref (refs/notes/patchbay) in the on-disk format Git
// itself reads and writes, including pushing notes with fetch-merge-retry.
//
// It is built on go-git and never shells out to the git binary (the tests do,
// to check that Git agrees). It is a leaf: it must not import any other
// patchbay package, and it never reads the environment; credentials come in
// through [Auth].
package gitrepo
