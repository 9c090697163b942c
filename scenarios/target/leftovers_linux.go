package target

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// childAttr makes an hsmd child die with the runner: the kernel sends it SIGKILL when the thread
// that started it exits (Pdeathsig). Go does not end its threads while the program runs (unless
// a goroutine locked to one exits, which start does not do), so in practice: with the runner.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// alive reports whether pid is a running process (a zombie is not: it only waits to be reaped).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')' (comm may hold one).
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// mentions reports whether pid's command line names dir (its hsmd --data-dir is under it).
func mentions(pid int, dir string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && bytes.Contains(b, []byte(dir))
}
