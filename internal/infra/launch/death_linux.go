package launch

import (
	"os/exec"
	"syscall"
)

// dieWithLauncher makes the kernel kill a rank when the launcher dies, even
// by SIGKILL: an orphan rank would go on heartbeating a file whose job is
// gone, and readers would not see its writer die. The signal follows the
// thread that started the rank, which Run keeps locked until every rank
// has ended.
func dieWithLauncher(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
