package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"unsafe"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// unsafeStringData tells whether two strings share memory.
func unsafeStringData(s string) *byte { return unsafe.StringData(s) }
