//go:build unix

package vercmp

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system) the whole process has used:
// the benchmark loop and the garbage collector's workers, but not other
// processes competing for the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
