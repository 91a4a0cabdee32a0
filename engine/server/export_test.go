package server

import "github.com/patchbay/patchbay/engine/inventory"

// EncodeSetForTest exposes the stored form of a package set to tests that
// seed a store directly.
func EncodeSetForTest(s *inventory.PackageSet) []byte { return encodeSet(s) }
