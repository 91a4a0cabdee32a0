//go:build !linux

package sandbox

import (
	"errors"
	"syscall"
)

// Elsewhere than Linux the child cannot limit itself: refuse rather than
// run unbounded.
func setDataLimit(uint64) error {
	return errors.New("the sandbox's memory limit needs Linux")
}

func setCPULimit(uint64) error { return nil }

func sysProcAttr() *syscall.SysProcAttr { return nil }
