package target

// Leftovers of a killed runner. hsmd children die with the runner on Linux (childAttr:
// Pdeathsig); elsewhere, or if the signal was missed, a runner killed before Close leaves its
// processes and data directory behind. So a runner writes its pid (runner.pid) and each child's
// (nN.pid) in its run directory, and the next Processes target to start reaps what a dead
// runner left: in its own directory (a fixed Options.Dir used again) and in the temporary
// directories runners make (hsmsim-scenario-*). A run directory whose runner is alive is
// another run's (other runs may share the machine) and is left alone.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	runnerPIDFile = "runner.pid"
	tempPattern   = "hsmsim-scenario-*"
)

func writePID(path string, pid int) error {
	return os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o600)
}

func readPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// Reaped is what reapLeftovers did: the processes it killed and the directories it removed.
type Reaped struct {
	Killed  []int
	Removed []string
}

// reapLeftovers reaps the run directory dir if its runner is dead: every child whose pid file
// it finds and whose command line still names dir (a pid the system gave to another program
// since is not touched) is killed, and the pid files removed; the directory itself is removed
// when remove is set (a temporary one).
func reapLeftovers(dir string, remove bool, r *Reaped) {
	runner, ok := readPID(filepath.Join(dir, runnerPIDFile))
	if !ok || runner == os.Getpid() || alive(runner) {
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	for _, f := range files {
		if pid, ok := readPID(f); ok && f != filepath.Join(dir, runnerPIDFile) && alive(pid) && mentions(pid, dir) {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				r.Killed = append(r.Killed, pid)
			}
		}
		_ = os.Remove(f)
	}
	if remove && os.RemoveAll(dir) == nil {
		r.Removed = append(r.Removed, dir)
	}
}

// ReapLeftovers reaps what dead runners left: dir (a fixed run directory; "" none) and the
// temporary run directories under tmp.
func ReapLeftovers(dir, tmp string) Reaped {
	var r Reaped
	if dir != "" {
		reapLeftovers(dir, false, &r)
	}
	temps, _ := filepath.Glob(filepath.Join(tmp, tempPattern))
	for _, d := range temps {
		if d != dir {
			reapLeftovers(d, true, &r)
		}
	}
	return r
}
