//go:build !linux

package target

import (
	"errors"
	"syscall"
)

// childAttr: no Pdeathsig outside Linux; what a killed runner leaves is reaped on the next
// run instead (ReapLeftovers).
func childAttr() *syscall.SysProcAttr { return nil }

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// mentions cannot read another process's command line portably: a pid in a dead runner's
// file is trusted to be its child.
func mentions(int, string) bool { return true }
